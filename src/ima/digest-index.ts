/**
 * A compact, read-only index of a runtime policy's `digests` for the replay's fast
 * accept: "is this (path, lowercase hex digest) pair listed?".
 *
 * Why not the policy's Map: with 100,000 paths the Map, its key strings and digest
 * arrays are tens of megabytes of separately allocated objects, and a lookup per IMA
 * line costs several cache misses (measured: ~600 ns of a ~1.5 µs line). Here the
 * table is one Int32Array probed for a whole batch of lines at once (independent
 * loads the CPU overlaps), and names and digests live in two long strings in policy
 * order, so lines that follow the policy's order read memory sequentially.
 *
 * The index only ever answers "listed" when the policy Map would: names are compared
 * exactly, digests as exact strings. Anything it leaves out (non-ASCII names,
 * digests that are not lowercase hex, boot_aggregate) simply goes to the full checker.
 */
import type { CompiledRuntimePolicy } from './policy.js';

const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

/** FNV-1a over the UTF-16 code units of text[start, end), then mixed so low bits index well. */
export function nameHash(text: string, start: number, end: number): number {
  let h = FNV_BASIS;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return finishNameHash(h);
}

/** The last step of nameHash, for callers that fold the FNV loop into their own. */
export function finishNameHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

export { FNV_BASIS, FNV_PRIME };

const LOWER_HEX = /^(?:[0-9a-f]{2})+$/;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

export class DigestIndex {
  /** Open addressing, two ints per slot: name hash, entry + 1 (0 = empty). */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** All indexed names, concatenated; entry e is names[nameAt[e], nameAt[e] + nameLen[e]). */
  private readonly names: string;
  private readonly nameAt: Int32Array;
  private readonly nameLen: Int32Array;
  /** All indexed digests, concatenated; entry e owns digests firstDigest[e] .. firstDigest[e + 1] - 1. */
  private readonly digests: string;
  private readonly firstDigest: Int32Array;
  private readonly digestAt: Int32Array;
  private readonly digestLen: Int32Array;

  constructor(digestMap: ReadonlyMap<string, readonly string[]>) {
    const names: string[] = [];
    const nameAt: number[] = [];
    const digests: string[] = [];
    const firstDigest: number[] = [];
    const digestAt: number[] = [];
    let nameOff = 0;
    let digestOff = 0;
    for (const [name, accepted] of digestMap) {
      // boot_aggregate may be widened by measured-boot aggregates: the checker decides it.
      if (name === 'boot_aggregate' || !ASCII.test(name)) continue;
      const usable = accepted.filter((d) => LOWER_HEX.test(d));
      if (usable.length === 0) continue;
      firstDigest.push(digestAt.length);
      nameAt.push(nameOff);
      names.push(name);
      nameOff += name.length;
      for (const d of usable) {
        digestAt.push(digestOff);
        digests.push(d);
        digestOff += d.length;
      }
    }
    const n = names.length;
    firstDigest.push(digestAt.length);
    this.names = names.join('');
    this.digests = digests.join('');
    this.nameAt = Int32Array.from(nameAt);
    this.nameLen = Int32Array.from(names, (s) => s.length);
    this.firstDigest = Int32Array.from(firstDigest);
    this.digestAt = Int32Array.from(digestAt);
    this.digestLen = Int32Array.from(digests, (s) => s.length);

    let size = 16;
    while (size < n * 2) size *= 2;
    this.mask = size - 1;
    this.slots = new Int32Array(size * 2);
    for (let e = 0; e < n; e++) {
      const h = nameHash(names[e]!, 0, names[e]!.length);
      let s = h & this.mask;
      while (this.slots[s * 2 + 1] !== 0) s = (s + 1) & this.mask;
      this.slots[s * 2] = h;
      this.slots[s * 2 + 1] = e + 1;
    }
  }

  get size(): number {
    return this.nameAt.length;
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
   * Continues from a probed slot: true when text[nameStart, nameEnd) is a listed name
   * whose accepted digests include text[digestStart, digestEnd) exactly.
   */
  listed(slot: number, hash: number, text: string, nameStart: number, nameEnd: number, digestStart: number, digestEnd: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    const len = nameEnd - nameStart;
    for (let s = slot; ; s = (s + 1) & mask) {
      const e1 = slots[s * 2 + 1]!;
      if (e1 === 0) return false;
      if (slots[s * 2] !== hash) continue;
      const e = e1 - 1;
      if (this.nameLen[e] !== len) continue;
      const at = this.nameAt[e]!;
      if (text.slice(nameStart, nameEnd) !== this.names.slice(at, at + len)) continue;
      // Names are unique in the policy, so this entry decides.
      const dlen = digestEnd - digestStart;
      for (let d = this.firstDigest[e]!, last = this.firstDigest[e + 1]!; d < last; d++) {
        if (this.digestLen[d] !== dlen) continue;
        const dat = this.digestAt[d]!;
        if (text.slice(digestStart, digestEnd) === this.digests.slice(dat, dat + dlen)) return true;
      }
      return false;
    }
  }
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
