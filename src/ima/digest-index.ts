/**
 * A compact, read-only index of a runtime policy's `digests` for the replay's fast
 * accept: "is this (path, lowercase hex digest) pair listed?".
 *
 * Why not the policy's Map: with 100,000 paths the Map, its key strings and digest
 * arrays are tens of megabytes of separately allocated objects, and a lookup per IMA
 * line costs several cache misses (measured: ~600 ns of a ~1.5 µs line). Here the
 * table is one Int32Array, and each entry is one record in a byte arena (its name, then
 * its digests as bytes), so a lookup is two cache misses: the slot, then the record.
 * The replay touches both for a whole batch of lines before looking any up, so those
 * misses overlap. Names and digests are compared four bytes at a time through
 * DataViews (no string slices).
 *
 * The index only ever answers "listed" when the policy Map would: it holds only ASCII
 * names and lowercase hex digests, for which byte equality is string equality.
 * Anything it leaves out (other names or digests, boot_aggregate) goes to the full checker.
 */
import type { CompiledRuntimePolicy } from './policy.js';

const FNV_BASIS = 0x811c9dc5 | 0;
/** The second lane's start (another FNV offset basis would do; any odd constant works). */
const FNV_BASIS_2 = 0x9e3779b9 | 0;
const FNV_PRIME = 16777619;

/**
 * The hash of a name's ASCII bytes at [start, end): FNV-1a in two lanes, eight bytes a
 * step (big-endian words: the first to lane 0, the second to lane 1), then a last word
 * to lane 0 and the remaining bytes one by one to lane 1, then mixed so its low bits
 * index well. Two lanes halve the chain of dependent multiplies. The fast lane computes
 * the same while copying a line's name.
 */
export function asciiBytesHash(bytes: DataView, start: number, end: number): number {
  let h0 = FNV_BASIS;
  let h1 = FNV_BASIS_2;
  let j = start;
  for (; j + 8 <= end; j += 8) {
    h0 = Math.imul(h0 ^ bytes.getUint32(j), FNV_PRIME);
    h1 = Math.imul(h1 ^ bytes.getUint32(j + 4), FNV_PRIME);
  }
  if (j + 4 <= end) {
    h0 = Math.imul(h0 ^ bytes.getUint32(j), FNV_PRIME);
    j += 4;
  }
  for (; j < end; j++) h1 = Math.imul(h1 ^ bytes.getUint8(j), FNV_PRIME);
  return finishNameHash(h0, h1);
}

export function finishNameHash(h0: number, h1: number): number {
  let h = h0 ^ Math.imul(h1 ^ (h1 >>> 15), 0x2c1b3c6d);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

export { FNV_BASIS, FNV_BASIS_2, FNV_PRIME };

function isAscii(name: string): boolean {
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Non-empty, even-length, lowercase hex: the only digests a fast-lane line can equal. */
function isLowerHex(d: unknown): d is string {
  if (typeof d !== 'string' || d.length === 0 || (d.length & 1) !== 0) return false;
  for (let i = 0; i < d.length; i++) {
    const c = d.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** A record: u16 name length, u8 digest count, u8 0, the name, then per digest u8 length and its bytes. */
const RECORD_HEADER = 4;

export class DigestIndex {
  /** Open addressing, two ints per slot: name hash, record offset + 1 (0 = empty). */
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly records: DataView;

  constructor(digestMap: ReadonlyMap<string, readonly string[]>) {
    // What goes in, and how large the arena is, first; then one buffer, written in place.
    const names: string[] = [];
    const digestLists: string[][] = [];
    let size = 0;
    for (const [name, accepted] of digestMap) {
      // boot_aggregate may be widened by measured-boot aggregates: the checker decides it.
      if (name === 'boot_aggregate') continue;
      // Longer names never reach the fast lane (its lines are shorter than a SHA-256 lanes message).
      if (!isAscii(name) || name.length > 0xffff) continue;
      const digests = accepted.filter((d) => isLowerHex(d) && d.length <= 2 * 0xff);
      if (digests.length === 0 || digests.length > 0xff) continue;
      names.push(name);
      digestLists.push(digests);
      size += RECORD_HEADER + name.length + digests.reduce((n, d) => n + 1 + d.length / 2, 0);
    }
    const arena = Buffer.alloc(Math.max(size, 1));
    const records = bytesView(arena);
    const offsets: number[] = [];
    const hashes: number[] = [];
    let at = 0;
    for (let e = 0; e < names.length; e++) {
      const name = names[e]!;
      offsets.push(at);
      records.setUint16(at, name.length);
      records.setUint8(at + 2, digestLists[e]!.length);
      arena.write(name, at + RECORD_HEADER, 'latin1');
      hashes.push(asciiBytesHash(records, at + RECORD_HEADER, at + RECORD_HEADER + name.length));
      at += RECORD_HEADER + name.length;
      for (const d of digestLists[e]!) {
        records.setUint8(at, d.length / 2);
        at += 1 + arena.write(d, at + 1, 'hex');
      }
    }
    this.records = records;

    const n = offsets.length;
    let slotCount = 16;
    while (slotCount < n * 2) slotCount *= 2;
    this.mask = slotCount - 1;
    this.slots = new Int32Array(slotCount * 2);
    for (let e = 0; e < n; e++) {
      const h = hashes[e]!;
      let s = h & this.mask;
      while (this.slots[s * 2 + 1] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 2] = h;
      this.slots[s * 2 + 1] = offsets[e]! + 1;
    }
  }

  /**
   * Loads the hash's home slot and returns what it holds, without a branch on it: called
   * for a whole batch of names before `probe`, it lets the CPU have all their cache
   * misses in flight at once (a probe's loop exit depends on the loaded slot, so a
   * mispredicted exit would otherwise wait for each miss in turn).
   */
  touch(hash: number): number {
    return this.slots[((hash & this.mask) << 1) + 1]!;
  }

  /** The same for the record a touched slot names (`touch`'s result), before `listed` reads it. */
  touchRecord(slotValue: number): number {
    return this.records.getUint8(slotValue > 0 ? slotValue - 1 : 0);
  }

  /**
   * First slot at or after the hash's home slot whose stored hash equals `hash`, or -1.
   * Cheap and free of dependent loads, so a loop over many lines overlaps its cache misses.
   */
  probe(hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let s = hash & mask;
    for (;;) {
      const e = slots[s * 2 + 1]!;
      if (e === 0) return -1;
      if (slots[s * 2] === hash) return s;
      s = (s + 1) & mask;
    }
  }

  /**
   * Continues from a probed slot: true when memory[nameStart, nameEnd) is a listed name
   * whose accepted digests include the `digestLength` bytes at memory[digestAt] (the
   * logged digest, decoded).
   */
  listed(slot: number, hash: number, memory: DataView, nameStart: number, nameEnd: number, digestAt: number, digestLength: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    const len = nameEnd - nameStart;
    for (let s = slot; ; s = (s + 1) & mask) {
      const e1 = slots[s * 2 + 1]!;
      if (e1 === 0) return false;
      if (slots[s * 2] !== hash) continue;
      const at = e1 - 1;
      const records = this.records;
      if (records.getUint16(at) !== len || !bytesEqual(memory, nameStart, records, at + RECORD_HEADER, len)) continue;
      // Names are unique in the policy, so this record decides.
      let d = at + RECORD_HEADER + len;
      for (let left = records.getUint8(at + 2); left > 0; left--) {
        const dlen = records.getUint8(d);
        if (dlen === digestLength && bytesEqual(memory, digestAt, records, d + 1, dlen)) return true;
        d += 1 + dlen;
      }
      return false;
    }
  }
}

function bytesView(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** a[aAt, aAt + len) === b[bAt, bAt + len); DataView reads are inlined by the JIT, four bytes a step. */
export function bytesEqual(a: DataView, aAt: number, b: DataView, bAt: number, len: number): boolean {
  let k = 0;
  for (; k + 4 <= len; k += 4) if (a.getUint32(aAt + k) !== b.getUint32(bAt + k)) return false;
  for (; k < len; k++) if (a.getUint8(aAt + k) !== b.getUint8(bAt + k)) return false;
  return true;
}

const built = new WeakMap<CompiledRuntimePolicy, DigestIndex>();

/** The index of a compiled policy, built on first use and kept as long as the policy is. */
export function digestIndexOf(policy: CompiledRuntimePolicy): DigestIndex {
  let index = built.get(policy);
  if (!index) {
    index = new DigestIndex(policy.digests);
    built.set(policy, index);
  }
  return index;
}
