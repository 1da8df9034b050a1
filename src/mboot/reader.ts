import { ParseError } from '../errors.js';

/**
 * A bounds-checked little-endian cursor over untrusted bytes. Every read checks the
 * remaining length first, so a corrupt length field ends in a ParseError naming the
 * absolute byte offset in the log, never in a RangeError or a huge allocation:
 * `bytes()` returns views into the input, it never copies.
 */
export class ByteReader {
  pos: number;

  /**
   * @param buf   the whole input
   * @param start first byte this reader may read
   * @param end   one past the last byte this reader may read
   * @param what  what the bytes are, for error messages
   */
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
    readonly what = 'event log',
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  fail(message: string, offset = this.pos): never {
    throw new ParseError(`${this.what}: ${message}`, offset);
  }

  need(n: number, field: string): void {
    if (n > this.remaining) {
      this.fail(`${field} needs ${n} bytes but only ${Math.max(0, this.remaining)} remain`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A u64 used as a count or length: it must fit the bytes that are left, so it fits a number. */
  u64Length(field: string, limit = this.remaining): number {
    const at = this.pos;
    const v = this.u64(field);
    if (v > BigInt(Math.max(0, limit))) this.fail(`${field} ${v} exceeds the ${Math.max(0, limit)} bytes available`, at);
    return Number(v);
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A reader over the next n bytes, advancing this one past them. */
  sub(n: number, field: string, what = this.what): ByteReader {
    this.need(n, field);
    const r = new ByteReader(this.buf, this.pos, this.pos + n, what);
    this.pos += n;
    return r;
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }
}
