/**
 * EK certificates sit in NV indices that are often larger than the certificate; the rest
 * is padding (zeros or 0xff). The DER length comes from the outer SEQUENCE header.
 */
import { ParseError } from '../errors.js';

/** NV indices of the TCG EK certificates for the "low range" EK templates that tpm2_createek makes. */
export const EK_CERT_NV_INDEX = { rsa: 0x01c00002, ecc: 0x01c0000a } as const;

/** Returns the DER certificate at the start of an NV index's content, without trailing padding. */
export function trimDerCertificate(content: Buffer): Buffer {
  if (content.length < 2) throw new ParseError('EK certificate NV content is too short for a DER header', 0);
  if (content[0] !== 0x30) throw new ParseError('EK certificate does not start with a DER SEQUENCE', 0);
  const first = content[1]!;
  let headerLength = 2;
  let bodyLength: number;
  if (first < 0x80) {
    bodyLength = first;
  } else {
    const lengthBytes = first & 0x7f;
    // Indefinite length (0x80) is not DER; more than 4 length bytes cannot fit any NV index.
    if (lengthBytes === 0 || lengthBytes > 4) throw new ParseError('EK certificate has an invalid DER length', 1);
    if (content.length < 2 + lengthBytes) throw new ParseError('EK certificate DER length is truncated', 2);
    bodyLength = 0;
    for (let i = 0; i < lengthBytes; i++) bodyLength = bodyLength * 256 + content[2 + i]!;
    headerLength = 2 + lengthBytes;
  }
  const total = headerLength + bodyLength;
  if (total > content.length) {
    throw new ParseError(`EK certificate claims ${total} bytes but the NV index holds ${content.length}`, 1);
  }
  return Buffer.from(content.subarray(0, total));
}
