import { ParseError } from '../errors.js';

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Standard padded base64 (RFC 4648 §4), nothing else: Buffer.from(s, 'base64') silently
 * skips junk and accepts missing padding, which would let two different wire strings
 * mean the same bytes. `what` names the field in the error.
 */
export function decodeBase64Strict(text: string, what: string): Buffer {
  const n = text.length;
  if (n % 4 !== 0) throw new ParseError(`${what} is not valid base64: length ${n} is not a multiple of 4`);
  if (!B64.test(text)) {
    const at = text.search(/[^A-Za-z0-9+/=]|=[^=]/);
    throw new ParseError(`${what} is not valid base64: unexpected character at position ${at < 0 ? n - 3 : at}`);
  }
  return Buffer.from(text, 'base64');
}

export function isStrictBase64(text: string): boolean {
  try {
    decodeBase64Strict(text, 'text');
    return true;
  } catch {
    return false;
  }
}
