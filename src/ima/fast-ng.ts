/**
 * The replay's fast lane for the line shape that makes up nearly every real IMA list:
 *
 *   10 <template hash, lowercase hex> ima-ng <alg>:<digest, lowercase hex> <ASCII path>
 *
 * It reads such a line from the list's UTF-8 bytes by position and writes its template
 * data (spec §1.2) in one pass. Anything else (another PCR or template, upper-case or
 * odd hex, a non-ASCII byte, a missing field) is declined, and the caller runs the
 * general tokeniser and encoder on that line, so the fast lane never has to agree with
 * them on anything but what it accepts.
 *
 * Positions: the caller walks the list as a JS string (char offsets) and passes
 * `shift` = byte offset - char offset at the line's start. Every char before a
 * line's first non-ASCII char is one byte, so reading bytes [start + shift, end + shift)
 * either meets that char's lead byte (>= 0x80, declined) or the line is pure ASCII.
 */

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
/** " ima-ng " as two big-endian words. */
const IMA_NG_HEAD = 0x20696d61;
const IMA_NG_TAIL = 0x2d6e6720;
/** "sha2", "56" and ':' of "sha256:". */
const SHA2 = 0x73686132;
const FIFTY_SIX = 0x3536;
/** Longest digest algorithm name taken here ("sha256", "sha512", "sm3-256", ... are far shorter). */
const MAX_ALG = 32;

/** True when list[at, at + 2 * bin.length) is the lowercase hex of the binary string `bin`. */
export function hexEqualsBinary(list: DataView, at: number, bin: string): boolean {
  for (let j = 0, k = at; j < bin.length; j++, k += 2) {
    if (HEX_PAIR[list.getUint16(k)] !== bin.charCodeAt(j)) return false;
  }
  return true;
}

/**
 * True when memory[at, at + 8 * words) is the lowercase hex of the `words` big-endian
 * words at out, out + 16, ... (little-endian u32s, as HashLanes lays out a digest).
 */
export function hexEqualsWords(memory: DataView, at: number, out: number, words: number): boolean {
  for (let k = 0, j = at; k < words; k++, j += 8) {
    const hi = (HEX_PAIR[memory.getUint16(j)]! << 8) | HEX_PAIR[memory.getUint16(j + 2)]!;
    const lo = (HEX_PAIR[memory.getUint16(j + 4)]! << 8) | HEX_PAIR[memory.getUint16(j + 6)]!;
    // A -1 from a non-hex pair makes its half negative.
    if (hi < 0 || lo < 0 || ((hi << 16) | lo) !== memory.getInt32(out + 16 * k, true)) return false;
  }
  return true;
}

/**
 * Reads fast-lane lines from a memory that holds the list's bytes and writes their
 * template data elsewhere in the same memory (the hashing arena).
 */
export class FastNgReader {
  /** Template data length of the last accepted line. */
  templateLength = 0;

  constructor(private readonly bytes: Uint8Array, private readonly view: DataView) {}

  /**
   * Reads the line at chars [start, end) of the list (no newline), whose bytes are at
   * `shift` further in memory, whose template-hash column is `columnLength` hex
   * characters, and writes its template data at `at`, within `room` bytes. True: the line
   * has the shape above and its template data is written. The column itself is left to
   * the caller.
   */
  read(shift: number, start: number, end: number, columnLength: number, at: number, room: number): boolean {
    const bytes = this.bytes;
    const list = this.view;
    const s = start + shift;
    const e = end + shift;
    // "10 " + column + " ima-ng " + "a:" + "00" + " " is the least a line can hold.
    const rest = s + 3 + columnLength + TEMPLATE_FIELD;
    if (rest + 5 > e) return false;
    if (list.getUint16(s) !== 0x3130 || bytes[s + 2] !== 0x20) return false;
    const t = s + 3 + columnLength;
    if (list.getUint32(t) !== IMA_NG_HEAD || list.getUint32(t + 4) !== IMA_NG_TAIL) return false;
    // Template data is never longer than the line's remainder plus its length fields.
    if (e - rest + 16 > room) return false;

    // d-ng: u32 length | alg | ':' | NUL | digest bytes
    let off = at + 4;
    let k = rest;
    if (k + 7 < e && list.getUint32(k) === SHA2 && list.getUint16(k + 4) === FIFTY_SIX && bytes[k + 6] === 0x3a) {
      // "sha256", the algorithm of nearly every line, in two steps.
      list.setUint32(off, SHA2);
      list.setUint16(off + 4, FIFTY_SIX);
      off += 6;
      k += 6;
    } else {
      for (;;) {
        if (k >= e || k - rest > MAX_ALG) return false;
        const c = bytes[k]!;
        if (c === 0x3a) break;
        if (c <= 0x20 || c >= 0x7f) return false;
        bytes[off++] = c;
        k++;
      }
    }
    if (k === rest) return false;
    bytes[off++] = 0x3a;
    bytes[off++] = 0x00;
    const digestStart = k + 1;
    k = digestStart;
    for (;;) {
      // Four hex characters a step while they are all hex; the space after the digest
      // (or anything else) is sorted out a pair at a time.
      if (k + 3 < e) {
        const quad = list.getUint32(k);
        const hi = HEX_PAIR[quad >>> 16]!;
        const lo = HEX_PAIR[quad & 0xffff]!;
        if ((hi | lo) >= 0) {
          list.setUint16(off, (hi << 8) | lo);
          off += 2;
          k += 4;
          continue;
        }
      }
      if (k + 1 >= e) return false;
      const pair = list.getUint16(k);
      if (pair >>> 8 === 0x20) break;
      const v = HEX_PAIR[pair]!;
      if (v < 0) return false;
      bytes[off++] = v;
      k += 2;
    }
    if (k === digestStart) return false;
    const dngLength = off - at - 4;
    bytes[at] = dngLength;
    bytes[at + 1] = dngLength >>> 8;
    bytes[at + 2] = dngLength >>> 16;
    bytes[at + 3] = dngLength >>> 24;

    // n-ng: u32 length | name | NUL; the name is everything after the digest's space.
    const nameStart = k + 1;
    const lengthAt = off;
    off += 4;
    // Eight bytes a step: copied and checked for ASCII.
    let j = nameStart;
    for (; j + 8 <= e; j += 8) {
      const w0 = list.getUint32(j);
      const w1 = list.getUint32(j + 4);
      if (((w0 | w1) & 0x80808080) !== 0) return false;
      list.setUint32(off, w0);
      list.setUint32(off + 4, w1);
      off += 8;
    }
    for (; j < e; j++) {
      const c = bytes[j]!;
      if (c > 0x7f) return false;
      bytes[off++] = c;
    }
    bytes[off++] = 0x00;
    const nngLength = off - lengthAt - 4;
    bytes[lengthAt] = nngLength;
    bytes[lengthAt + 1] = nngLength >>> 8;
    bytes[lengthAt + 2] = nngLength >>> 16;
    bytes[lengthAt + 3] = nngLength >>> 24;

    this.templateLength = off - at;
    return true;
  }
}
