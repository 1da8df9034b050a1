import { ParseError } from '../errors.js';

/**
 * Bounds-checked reader over untrusted bytes. TPM marshalling is big-endian; the
 * tpm2-tools pcrs file is a little-endian memory dump, hence the `le` variants.
 * Every read names what it was reading, so a ParseError says which field ran short.
 */
export class TpmReader {
  readonly buf: Buffer;
  offset: number;
  readonly end: number;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number, what: string): number {
    if (n > this.end - this.offset) {
      throw new ParseError(`truncated ${what}: need ${n} bytes, ${this.end - this.offset} left`, this.offset);
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(what: string): number {
    return this.buf[this.need(1, what)]!;
  }

  u16(what: string): number {
    return this.buf.readUInt16BE(this.need(2, what));
  }

  u32(what: string): number {
    return this.buf.readUInt32BE(this.need(4, what));
  }

  /** A u64 as a JS number: exact below 2^53, monotonic (never reordering two values) above. */
  u64(what: string): number {
    const at = this.need(8, what);
    return this.buf.readUInt32BE(at) * 0x1_0000_0000 + this.buf.readUInt32BE(at + 4);
  }

  u64big(what: string): bigint {
    return this.buf.readBigUInt64BE(this.need(8, what));
  }

  u16le(what: string): number {
    return this.buf.readUInt16LE(this.need(2, what));
  }

  u32le(what: string): number {
    return this.buf.readUInt32LE(this.need(4, what));
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number, what: string): Buffer {
    const at = this.need(n, what);
    return this.buf.subarray(at, at + n);
  }

  /** TPM2B: u16 size then that many bytes; `max` is the structure's declared capacity. */
  tpm2b(what: string, max?: number): Buffer {
    const start = this.offset;
    const size = this.u16(`${what} size`);
    if (max !== undefined && size > max) {
      throw new ParseError(`${what} size ${size} exceeds its maximum of ${max}`, start);
    }
    return this.bytes(size, what);
  }

  skip(n: number, what: string): void {
    this.need(n, what);
  }

  expectEnd(what: string): void {
    if (this.offset !== this.end) {
      throw new ParseError(`${this.end - this.offset} unexpected trailing bytes after ${what}`, this.offset);
    }
  }
}

/** Accumulates a marshalled structure; sizes are checked so an encoder cannot emit garbage. */
export class TpmWriter {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  private int(value: number, bytes: number, le: boolean, what: string): this {
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * bytes)) {
      throw new RangeError(`${what} ${value} does not fit in ${bytes} bytes`);
    }
    const b = Buffer.allocUnsafe(bytes);
    if (bytes === 1) b.writeUInt8(value);
    else if (bytes === 2) le ? b.writeUInt16LE(value) : b.writeUInt16BE(value);
    else le ? b.writeUInt32LE(value) : b.writeUInt32BE(value);
    return this.push(b);
  }

  u8(value: number, what = 'u8'): this {
    return this.int(value, 1, false, what);
  }

  u16(value: number, what = 'u16'): this {
    return this.int(value, 2, false, what);
  }

  u32(value: number, what = 'u32'): this {
    return this.int(value, 4, false, what);
  }

  u64(value: number | bigint, what = 'u64'): this {
    const v = BigInt(value);
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`${what} ${value} does not fit in 8 bytes`);
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(v);
    return this.push(b);
  }

  u16le(value: number, what = 'u16'): this {
    return this.int(value, 2, true, what);
  }

  u32le(value: number, what = 'u32'): this {
    return this.int(value, 4, true, what);
  }

  bytes(b: Uint8Array): this {
    return this.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  zeros(n: number): this {
    return this.push(Buffer.alloc(n));
  }

  tpm2b(b: Uint8Array, what = 'TPM2B'): this {
    this.u16(b.byteLength, `${what} size`);
    return this.bytes(b);
  }

  get size(): number {
    return this.length;
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}
