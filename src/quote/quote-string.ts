import { ParseError } from '../errors.js';
import { decodeBase64Strict } from './base64.js';

/** The three binary parts of a Keylime quote. */
export interface QuoteParts {
  /** Marshalled TPMS_ATTEST. */
  attest: Buffer;
  /** Marshalled TPMT_SIGNATURE. */
  signature: Buffer;
  /** tpm2-tools pcrs file. */
  pcrs: Buffer;
}

/**
 * `r<b64 TPMS_ATTEST>:<b64 TPMT_SIGNATURE>:<b64 pcrs>` (spec §4.1). As Keylime, parts
 * after the third are ignored; unlike Python's lenient decoder, each part must be
 * canonical padded base64. API 1.0's zlib-compressed parts are not supported.
 */
export function parseQuoteString(quote: string): QuoteParts {
  if (typeof quote !== 'string' || quote.length === 0) throw new ParseError('quote is empty');
  if (quote[0] !== 'r') {
    throw new ParseError(`quote must start with "r" (raw TPM quote), not ${JSON.stringify(quote.slice(0, 1))}`, 0);
  }
  const parts = quote.slice(1).split(':', 3);
  if (parts.length < 3) throw new ParseError(`quote has ${parts.length} part(s), expected 3 separated by ":"`);
  return {
    attest: decodeBase64Strict(parts[0]!, 'quote TPMS_ATTEST part'),
    signature: decodeBase64Strict(parts[1]!, 'quote TPMT_SIGNATURE part'),
    pcrs: decodeBase64Strict(parts[2]!, 'quote pcrs part'),
  };
}

export function formatQuoteString(parts: QuoteParts): string {
  return `r${parts.attest.toString('base64')}:${parts.signature.toString('base64')}:${parts.pcrs.toString('base64')}`;
}
