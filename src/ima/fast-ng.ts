/**
 * The replay's fast lane for the line shape that makes up nearly every real IMA list:
 *
 *   10 <template hash, lowercase hex> ima-ng <alg>:<digest, lowercase hex> <ASCII path>
 *
 * It reads such a line from the list's UTF-8 bytes by position and writes its template
 * data (spec §1.2) in one pass, also hashing the path for the digest index. Anything
 * else (another PCR or template, upper-case or odd hex, a non-ASCII byte, a missing
 * field) is declined, and the caller runs the general tokeniser and encoder on that
 * line, so the fast lane never has to agree with them on anything but what it accepts.
 *
 * Positions: the caller walks the list as a JS string (char offsets) and passes
 * `shift` = byte offset - char offset at the line's start. Every char before a
 * line's first non-ASCII char is one byte, so reading bytes [start + shift, end + shift)
 * either meets that char's lead byte (>= 0x80, declined) or the line is pure ASCII.
 * Outputs are byte offsets (the digest index compares bytes).
 */
import { FNV_BASIS, FNV_PRIME, finishNameHash } from './digest-index.js';

/**
 * Byte values of two lowercase hex characters read as one big-endian u16 ((hi << 8) | lo);
 * -1 for any other pair (upper case goes the general way). The 256 live entries sit in
 * 32 cache lines, so one lookup per byte beats two digit lookups.
 */
const HEX_PAIR = new Int16Array(65536).fill(-1);
{
  const digits = '0123456789abcdef';
  for (let hi = 0; hi < 16; hi++) {
    for (let lo = 0; lo < 16; lo++) HEX_PAIR[(digits.charCodeAt(hi) << 8) | digits.charCodeAt(lo)] = (hi << 4) | lo;
  }
}

/** " ima-ng " between the template-hash column and the digest. */
const TEMPLATE_FIELD = 8;
/** Longest digest algorithm name taken here ("sha256", "sha512", "sm3-256", ... are far shorter). */
const MAX_ALG = 32;

/** True when list[at, at + 2 * bin.length) is the lowercase hex of the binary string `bin`. */
export function hexEqualsBinary(list: DataView, at: number, bin: string): boolean {
  for (let j = 0, k = at; j < bin.length; j++, k += 2) {
    if (HEX_PAIR[list.getUint16(k)] !== bin.charCodeAt(j)) return false;
  }
  return true;
}

export class FastNgReader {
  private buf = new Uint8Array(1024);
  private bufView = new DataView(this.buf.buffer);
  /** Views of buf by length: template data lengths repeat, and a view per line would be an allocation per line. */
  private views: Uint8Array[] = [];

  // Outputs of the last accepted line (byte offsets).
  templateLength = 0;
  digestStart = 0;
  digestEnd = 0;
  nameStart = 0;
  nameHash = 0;

  /** Template data of the last accepted line; valid until the next read. */
  templateData(): Uint8Array {
    return (this.views[this.templateLength] ??= this.buf.subarray(0, this.templateLength));
  }

  /**
   * Reads the line at chars [start, end) (no newline), found in `bytes` (and `list`, a
   * DataView of the same bytes) at `shift` further,
   * whose template-hash column is `columnLength` hex characters. True: the line has the
   * shape above and its template data is ready. The column itself is left to the caller.
   */
  read(bytes: Uint8Array, list: DataView, shift: number, start: number, end: number, columnLength: number): boolean {
    const s = start + shift;
    const e = end + shift;
    // "10 " + column + " ima-ng " + "a:" + "00" + " " is the least a line can hold.
    const rest = s + 3 + columnLength + TEMPLATE_FIELD;
    if (rest + 5 > e) return false;
    if (bytes[s] !== 0x31 || bytes[s + 1] !== 0x30 || bytes[s + 2] !== 0x20) return false;
    const t = s + 3 + columnLength;
    if (
      bytes[t] !== 0x20 || bytes[t + 1] !== 0x69 || bytes[t + 2] !== 0x6d || bytes[t + 3] !== 0x61 ||
      bytes[t + 4] !== 0x2d || bytes[t + 5] !== 0x6e || bytes[t + 6] !== 0x67 || bytes[t + 7] !== 0x20
    ) {
      return false;
    }

    // Template data is never longer than the line's remainder plus its length fields.
    if (this.buf.length < e - rest + 16) {
      this.buf = new Uint8Array(Math.max(e - rest + 16, this.buf.length * 2));
      this.bufView = new DataView(this.buf.buffer);
      this.views = [];
    }
    const b = this.buf;

    // d-ng: u32 length | alg | ':' | NUL | digest bytes
    let off = 4;
    let k = rest;
    for (;;) {
      if (k >= e || k - rest > MAX_ALG) return false;
      const c = bytes[k]!;
      if (c === 0x3a) break;
      if (c <= 0x20 || c >= 0x7f) return false;
      b[off++] = c;
      k++;
    }
    if (k === rest) return false;
    b[off++] = 0x3a;
    b[off++] = 0x00;
    const digestStart = k + 1;
    k = digestStart;
    for (;;) {
      if (k + 1 >= e) return false;
      const pair = list.getUint16(k);
      if (pair >>> 8 === 0x20) break;
      const v = HEX_PAIR[pair]!;
      if (v < 0) return false;
      b[off++] = v;
      k += 2;
    }
    if (k === digestStart) return false;
    const dngLength = off - 4;
    b[0] = dngLength;
    b[1] = dngLength >>> 8;
    b[2] = dngLength >>> 16;
    b[3] = dngLength >>> 24;

    // n-ng: u32 length | name | NUL; the name is everything after the digest's space.
    const nameStart = k + 1;
    const lengthAt = off;
    off += 4;
    // Four bytes a step: copied, checked for ASCII and hashed as the digest index hashes names.
    const bv = this.bufView;
    let h = FNV_BASIS;
    let j = nameStart;
    for (; j + 4 <= e; j += 4) {
      const w = list.getUint32(j);
      if ((w & 0x80808080) !== 0) return false;
      bv.setUint32(off, w);
      off += 4;
      h = Math.imul(h ^ w, FNV_PRIME);
    }
    for (; j < e; j++) {
      const c = bytes[j]!;
      if (c > 0x7f) return false;
      b[off++] = c;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    b[off++] = 0x00;
    const nngLength = off - lengthAt - 4;
    b[lengthAt] = nngLength;
    b[lengthAt + 1] = nngLength >>> 8;
    b[lengthAt + 2] = nngLength >>> 16;
    b[lengthAt + 3] = nngLength >>> 24;

    this.templateLength = off;
    this.digestStart = digestStart;
    this.digestEnd = k;
    this.nameStart = nameStart;
    this.nameHash = finishNameHash(h);
    return true;
  }
}
