/**
 * A compact, read-only index of a runtime policy's `digests` for the replay's fast
 * accept: "is this (path, lowercase hex digest) pair listed?".
 *
 * Why not the policy's Map: with 100,000 paths the Map, its key strings and digest
 * arrays are tens of megabytes of separately allocated objects, and a lookup per IMA
 * line costs several cache misses (measured: ~600 ns of a ~1.5 µs line). Here the
 * table is one Int32Array probed for a whole batch of lines at once (independent
 * loads the CPU overlaps), and names and digests (as bytes, not hex) live in two byte
 * arenas in policy order, so lines that follow the policy's order read memory
 * sequentially. They are compared with a line's name and decoded digest four bytes at
 * a time through DataViews (no string slices).
 *
 * The index only ever answers "listed" when the policy Map would: it holds only ASCII
 * names and lowercase hex digests, for which byte equality is string equality.
 * Anything it leaves out (other names or digests, boot_aggregate) goes to the full checker.
 */
import type { CompiledRuntimePolicy } from './policy.js';

const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

/**
 * The hash of a name's ASCII bytes at [start, end): FNV-1a over big-endian 4-byte words,
 * then the remaining bytes one by one, then mixed so its low bits index well. The fast
 * lane computes the same while copying a line's name.
 */
export function asciiBytesHash(bytes: DataView, start: number, end: number): number {
  let h = FNV_BASIS;
  let j = start;
  for (; j + 4 <= end; j += 4) h = Math.imul(h ^ bytes.getUint32(j), FNV_PRIME);
  for (; j < end; j++) h = Math.imul(h ^ bytes.getUint8(j), FNV_PRIME);
  return finishNameHash(h);
}

export function finishNameHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

export { FNV_BASIS, FNV_PRIME };

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

export class DigestIndex {
  /** Open addressing, two ints per slot: name hash, entry + 1 (0 = empty). */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** All indexed names (ASCII bytes), concatenated; entry e is names[nameAt[e], nameAt[e] + nameLen[e]). */
  private readonly names: DataView;
  private readonly nameAt: Int32Array;
  private readonly nameLen: Int32Array;
  /** All indexed digests (decoded from lowercase hex), concatenated; entry e owns digests firstDigest[e] .. firstDigest[e + 1] - 1. */
  private readonly digests: DataView;
  private readonly firstDigest: Int32Array;
  private readonly digestAt: Int32Array;
  private readonly digestLen: Int32Array;

  constructor(digestMap: ReadonlyMap<string, readonly string[]>) {
    const names: string[] = [];
    const nameAt: number[] = [];
    const nameLen: number[] = [];
    const digests: string[] = [];
    const firstDigest: number[] = [];
    const digestAt: number[] = [];
    const digestLen: number[] = [];
    let nameOff = 0;
    let digestOff = 0;
    for (const [name, accepted] of digestMap) {
      // boot_aggregate may be widened by measured-boot aggregates: the checker decides it.
      if (name === 'boot_aggregate') continue;
      if (!isAscii(name)) continue;
      let usable = 0;
      for (const d of accepted) {
        if (!isLowerHex(d)) continue;
        if (usable++ === 0) firstDigest.push(digestAt.length);
        digestAt.push(digestOff);
        digestLen.push(d.length >>> 1);
        digests.push(d);
        digestOff += d.length >>> 1;
      }
      if (usable === 0) continue;
      names.push(name);
      nameAt.push(nameOff);
      nameLen.push(name.length);
      nameOff += name.length;
    }
    const n = names.length;
    firstDigest.push(digestAt.length);
    this.names = latin1View(names.join(''));
    this.digests = bytesView(Buffer.from(digests.join(''), 'hex'));
    this.nameAt = Int32Array.from(nameAt);
    this.nameLen = Int32Array.from(nameLen);
    this.firstDigest = Int32Array.from(firstDigest);
    this.digestAt = Int32Array.from(digestAt);
    this.digestLen = Int32Array.from(digestLen);

    let size = 16;
    while (size < n * 2) size *= 2;
    this.mask = size - 1;
    this.slots = new Int32Array(size * 2);
    for (let e = 0; e < n; e++) {
      const h = asciiBytesHash(this.names, nameAt[e]!, nameAt[e]! + nameLen[e]!);
      let s = h & this.mask;
      while (this.slots[s * 2 + 1] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 2] = h;
      this.slots[s * 2 + 1] = e + 1;
    }
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
      const e = e1 - 1;
      if (this.nameLen[e] !== len || !bytesEqual(memory, nameStart, this.names, this.nameAt[e]!, len)) continue;
      // Names are unique in the policy, so this entry decides.
      for (let d = this.firstDigest[e]!, last = this.firstDigest[e + 1]!; d < last; d++) {
        if (this.digestLen[d] === digestLength && bytesEqual(memory, digestAt, this.digests, this.digestAt[d]!, digestLength)) return true;
      }
      return false;
    }
  }
}

function latin1View(text: string): DataView {
  return bytesView(Buffer.from(text, 'latin1'));
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
