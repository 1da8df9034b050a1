/**
 * Rebuilds the template data bytes that the kernel hashed (spec §1.2): u32
 * little-endian length prefixes, `alg:` + NUL inside d-ng, NUL-terminated n-ng,
 * and the 256-byte zero-padded name of the legacy `ima` template.
 */
import type { ImaEntry } from './entry.js';

const LEGACY_NAME_FIELD = 256;

/**
 * Writes template data into one reusable buffer. The returned view is only valid
 * until the next call; hash it, copy it, or let it go.
 */
export class TemplateEncoder {
  private buf = Buffer.allocUnsafe(4096);

  encode(e: ImaEntry): Buffer {
    // Upper bound: hex halves, a name's UTF-8 is at most 3 bytes per UTF-16 unit.
    const bound =
      64 + e.digestAlg.length * 3 + (e.digest.length >>> 1) + e.name.length * 3 + LEGACY_NAME_FIELD +
      (e.signature.length >>> 1) + (e.buffer.length >>> 1);
    if (this.buf.length < bound) this.buf = Buffer.allocUnsafe(Math.max(bound, this.buf.length * 2));
    const b = this.buf;

    if (e.template === 'ima') {
      let off = b.write(e.digest, 0, 'hex');
      const nameStart = off;
      off += b.write(e.name, off, 'utf8');
      b.fill(0, off, nameStart + LEGACY_NAME_FIELD);
      return b.subarray(0, nameStart + LEGACY_NAME_FIELD);
    }

    // d-ng: u32 len | alg | ':' | NUL | digest
    let off = 4;
    off += b.write(e.digestAlg, off, 'utf8');
    b[off++] = 0x3a;
    b[off++] = 0x00;
    off += b.write(e.digest, off, 'hex');
    b.writeUInt32LE(off - 4, 0);

    // n-ng: u32 len | name | NUL
    const nameLenAt = off;
    off += 4;
    off += b.write(e.name, off, 'utf8');
    b[off++] = 0x00;
    b.writeUInt32LE(off - nameLenAt - 4, nameLenAt);

    if (e.template === 'ima-sig') off = writeBlob(b, off, e.signature);
    else if (e.template === 'ima-buf') off = writeBlob(b, off, e.buffer);
    return b.subarray(0, off);
  }
}

function writeBlob(b: Buffer, off: number, hex: string): number {
  const n = b.write(hex, off + 4, 'hex');
  b.writeUInt32LE(n, off);
  return off + 4 + n;
}

/** Template data as a fresh Buffer (for tooling and tests). */
export function templateData(e: ImaEntry): Buffer {
  return Buffer.from(new TemplateEncoder().encode(e));
}
