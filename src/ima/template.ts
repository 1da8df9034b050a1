/**
 * Rebuilds the template data bytes that the kernel hashed (spec §1.2): u32
 * little-endian length prefixes, `alg:` + NUL inside d-ng, NUL-terminated n-ng,
 * and the 256-byte zero-padded name of the legacy `ima` template.
 */
import type { ImaEntry } from './entry.js';
import { writeHex, writeUtf8 } from './fast-write.js';

const LEGACY_NAME_FIELD = 256;

/**
 * Writes template data into one reusable buffer. The returned view is only valid
 * until the next call; hash it, copy it, or let it go. Returns null when the digest
 * is not plain hex (the caller canonicalises it, or reports the line).
 */
export class TemplateEncoder {
  private buf = Buffer.allocUnsafe(4096);
  /** Views of `buf` by length: template data lengths repeat, so this saves an allocation per entry. */
  private views: Buffer[] = [];

  private view(length: number): Buffer {
    return (this.views[length] ??= this.buf.subarray(0, length));
  }

  encode(e: ImaEntry): Buffer | null {
    // Upper bound: hex halves, a name's UTF-8 is at most 3 bytes per UTF-16 unit.
    const bound =
      64 + e.digestAlg.length * 3 + (e.digest.length >>> 1) + e.name.length * 3 + LEGACY_NAME_FIELD +
      (e.signature.length >>> 1) + (e.buffer.length >>> 1);
    if (this.buf.length < bound) {
      this.buf = Buffer.allocUnsafe(Math.max(bound, this.buf.length * 2));
      this.views = [];
    }
    const b = this.buf;
    const digestBytes = e.digest.length >>> 1;
    if (digestBytes * 2 !== e.digest.length) return null;

    if (e.template === 'ima') {
      let off = writeHex(b, e.digest, 0);
      if (off !== digestBytes) return null;
      const nameStart = off;
      off += writeUtf8(b, e.name, off);
      b.fill(0, off, nameStart + LEGACY_NAME_FIELD);
      return this.view(nameStart + LEGACY_NAME_FIELD);
    }

    // d-ng: u32 len | alg | ':' | NUL | digest
    let off = 4;
    off += writeUtf8(b, e.digestAlg, off);
    b[off++] = 0x3a;
    b[off++] = 0x00;
    const written = writeHex(b, e.digest, off);
    if (written !== digestBytes) return null;
    off += written;
    b.writeUInt32LE(off - 4, 0);

    // n-ng: u32 len | name | NUL
    const nameLenAt = off;
    off += 4;
    off += writeUtf8(b, e.name, off);
    b[off++] = 0x00;
    b.writeUInt32LE(off - nameLenAt - 4, nameLenAt);

    if (e.template === 'ima-sig') off = writeBlob(b, off, e.signature);
    else if (e.template === 'ima-buf') off = writeBlob(b, off, e.buffer);
    return this.view(off);
  }
}

function writeBlob(b: Buffer, off: number, hex: string): number {
  const n = writeHex(b, hex, off + 4);
  b.writeUInt32LE(n, off);
  return off + 4 + n;
}

/** Template data of a parsed (canonical) entry as a fresh Buffer, for tooling and tests. */
export function templateData(e: ImaEntry): Buffer {
  const td = new TemplateEncoder().encode(e);
  if (!td) throw new RangeError('entry digest is not canonical hex; use parseImaLine');
  return Buffer.from(td);
}
