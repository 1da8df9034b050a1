/**
 * Hex decoding with Python `bytes.fromhex` semantics, which is what Keylime applies to
 * every hex field of an IMA line: case-insensitive, ASCII whitespace allowed between
 * byte pairs (never inside one), anything else is an error.
 */

let scratch = Buffer.allocUnsafe(256);

function ensureScratch(bytes: number): Buffer {
  if (scratch.length < bytes) scratch = Buffer.allocUnsafe(Math.max(bytes, scratch.length * 2));
  return scratch;
}

function isPyWhitespace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/**
 * Canonical lowercase hex of what `bytes.fromhex(text)` would decode, or null where
 * Python raises ValueError. The common case (plain lowercase hex) returns `text` itself.
 */
export function canonicalHex(text: string): string | null {
  const n = text.length;
  if ((n & 1) === 0) {
    // Buffer#write stops at the first non-hex character, so a full write proves validity.
    const written = ensureScratch(n >>> 1).write(text, 0, n >>> 1, 'hex');
    if (written * 2 === n) return hasUpperHex(text) ? text.toLowerCase() : text;
  }
  return slowCanonicalHex(text);
}

/** Decodes like `bytes.fromhex`; null where Python raises. */
export function decodeHexPy(text: string): Buffer | null {
  const canonical = canonicalHex(text);
  return canonical === null ? null : Buffer.from(canonical, 'hex');
}

function hasUpperHex(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x46) return true;
  }
  return false;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  return -1;
}

function slowCanonicalHex(text: string): string | null {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isPyWhitespace(c)) {
      i++;
      continue;
    }
    if (i + 1 >= n) return null;
    const hi = hexValue(c);
    const lo = hexValue(text.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return null;
    out += text[i]!.toLowerCase() + text[i + 1]!.toLowerCase();
    i += 2;
  }
  return out;
}

/** Python `str(bytes)`: how Keylime renders template hashes and data in `ima_hash` events. */
export function pythonBytesRepr(bytes: Uint8Array): string {
  let hasSingle = false;
  let hasDouble = false;
  for (const b of bytes) {
    if (b === 0x27) hasSingle = true;
    else if (b === 0x22) hasDouble = true;
  }
  const quote = hasSingle && !hasDouble ? '"' : "'";
  let body = '';
  for (const b of bytes) {
    if (b === 0x5c) body += '\\\\';
    else if (b === 0x09) body += '\\t';
    else if (b === 0x0a) body += '\\n';
    else if (b === 0x0d) body += '\\r';
    else if (b === quote.charCodeAt(0)) body += '\\' + quote;
    else if (b >= 0x20 && b < 0x7f) body += String.fromCharCode(b);
    else body += '\\x' + b.toString(16).padStart(2, '0');
  }
  return `b${quote}${body}${quote}`;
}
