import { ParseError } from '../errors.js';

function isB64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2b || // +
    c === 0x2f // /
  );
}

/**
 * Standard padded base64 (RFC 4648 §4), nothing else: Buffer.from(s, 'base64') silently
 * skips junk and accepts missing padding, which would let two different wire strings
 * mean the same bytes. `what` names the field in the error.
 */
export function decodeBase64Strict(text: string, what: string): Buffer {
  const n = text.length;
  if (n % 4 !== 0) throw new ParseError(`${what} is not valid base64: length ${n} is not a multiple of 4`);
  let pad = 0;
  if (n > 0 && text.charCodeAt(n - 1) === 0x3d) pad = text.charCodeAt(n - 2) === 0x3d ? 2 : 1;
  for (let i = 0; i < n - pad; i++) {
    if (!isB64Char(text.charCodeAt(i))) {
      throw new ParseError(`${what} is not valid base64: unexpected character at position ${i}`);
    }
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
