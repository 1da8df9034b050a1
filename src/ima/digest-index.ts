/**
 * A compact, read-only index of a runtime policy's `digests` for the replay's fast
 * accept: "is this ima-ng line's (path, digest) pair listed?".
 *
 * It is keyed by the SHA-256 of the ima-ng template data the pair would be logged as
 * (spec §1.2: the digest with its algorithm, the path), which the replay has computed
 * for every fast-lane line anyway. So a lookup is one probe with a 32-byte key that is
 * already uniformly distributed: no name hashing, no name comparison, and one cache
 * line per probe. The template data encodes its fields with their lengths, so equal
 * template data means an equal path and digest; equal SHA-256 means equal template data
 * as surely as the PCR 10 replay itself relies on.
 *
 * The index only ever answers "listed" when the policy Map would; anything it leaves
 * out goes to the full checker: boot_aggregate (measured-boot aggregates widen it),
 * non-ASCII paths, digests that are not lowercase hex, and lines whose digest algorithm
 * is not the usual one for its length (sha1, sha256, sha384, sha512: an `sm3-256:` line
 * is checked in full).
 */
import { HashLanes, MAX_MESSAGE } from '../crypto/hash-lanes.js';
import type { ImaEntry } from './entry.js';
import type { CompiledRuntimePolicy } from './policy.js';
import { TemplateEncoder } from './template.js';

/** The algorithm a policy digest is indexed under, by its length in bytes. */
const ALG_BY_LENGTH: Readonly<Record<number, string>> = { 20: 'sha1', 32: 'sha256', 48: 'sha384', 64: 'sha512' };

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Lowercase hex of even length: the only digests a fast-lane line can equal. */
function isLowerHex(d: unknown): d is string {
  if (typeof d !== 'string' || d.length === 0 || (d.length & 1) !== 0) return false;
  for (let i = 0; i < d.length; i++) {
    const c = d.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Lanes for building indexes, kept: a WebAssembly memory per policy would be wasteful. */
let buildLanes: HashLanes | null = null;

export class DigestIndex {
  /**
   * Open addressing, eight ints per slot: the key's big-endian words as signed ints,
   * indexed by its first word. A slot whose first two words are zero is empty (a key
   * starting with 64 zero bits is left out: the full checker has it).
   */
  private readonly table: Int32Array;
  private readonly mask: number;
  size: number;

  constructor(digestMap: ReadonlyMap<string, readonly string[]>) {
    // The pairs to index first (the table's size depends on their count), then their
    // template data, written by the replay's own encoder, hashed a batch at a time and
    // inserted straight from the lanes.
    const entries: ImaEntry[] = [];
    for (const [name, accepted] of digestMap) {
      // boot_aggregate may be widened by measured-boot aggregates: the checker decides it.
      // Only ASCII paths reach the fast lane, and for them bytes and string agree exactly.
      if (name === 'boot_aggregate' || !isAscii(name)) continue;
      for (const digest of accepted) {
        if (!isLowerHex(digest)) continue;
        const digestAlg = ALG_BY_LENGTH[digest.length / 2];
        // Longer template data never comes through the fast lane either.
        if (digestAlg === undefined || 16 + digestAlg.length + digest.length / 2 + name.length > MAX_MESSAGE - 64) continue;
        entries.push({ pcr: '10', templateHash: '', template: 'ima-ng', digestAlg, digest, name, signature: '', buffer: '' });
      }
    }

    let slots = 16;
    // Load at most 0.8: a smaller table stays in cache better, and a key's probe rarely
    // leaves its first cache line or two.
    while (slots * 4 < entries.length * 5) slots *= 2;
    this.mask = slots - 1;
    this.table = new Int32Array(slots * 8);
    this.size = 0;

    const lanes = (buildLanes ??= new HashLanes());
    lanes.reset();
    const insertAll = () => {
      lanes.hashAll();
      for (let i = 0; i < lanes.count; i++) this.insert(lanes.view, lanes.digestOffset(i));
      lanes.reset();
    };
    const encoder = new TemplateEncoder();
    for (const e of entries) {
      const td = encoder.encode(e)!; // never null: the digest is even-length lowercase hex
      if (lanes.room() < td.length) insertAll();
      lanes.bytes.set(td, lanes.cursor);
      lanes.add(td.length);
    }
    insertAll();
  }

  /** Adds the key at `out` (HashLanes layout) unless it is there already or starts with 64 zero bits. */
  private insert(memory: DataView, out: number): void {
    if (memory.getInt32(out, true) === 0 && memory.getInt32(out + 16, true) === 0) return;
    if (this.listed(memory, out)) return;
    const t = this.table;
    let s = memory.getInt32(out, true) & this.mask;
    while (t[s * 8] !== 0 || t[s * 8 + 1] !== 0) s = (s + 1) & this.mask;
    for (let k = 0; k < 8; k++) t[s * 8 + k] = memory.getInt32(out + 16 * k, true);
    this.size++;
  }

  /**
   * Loads the key's home slot without a branch on it: called for a whole batch of lines
   * before `listed`, it lets the CPU have all their cache misses in flight at once
   * (a probe's loop exit depends on the loaded slot, so a mispredicted exit would
   * otherwise wait for each miss in turn).
   */
  touch(firstWord: number): number {
    return this.table[(firstWord & this.mask) << 3]!;
  }

  /**
   * True when the template-data hash whose words are at `out`, `out + 16`, ... in
   * `memory` (little-endian i32s, the HashLanes digest layout) is a listed pair's.
   */
  listed(memory: DataView, out: number): boolean {
    const t = this.table;
    const mask = this.mask;
    const w0 = memory.getInt32(out, true);
    const w1 = memory.getInt32(out + 16, true);
    for (let s = w0 & mask; ; s = (s + 1) & mask) {
      const b = s << 3;
      const k0 = t[b]!;
      const k1 = t[b + 1]!;
      if (k0 === w0 && k1 === w1) {
        // Another key with the same first 64 bits would go unfound, which only sends
        // the line to the full checker: "listed" is exact, "not listed" is a hint.
        return (
          t[b + 2] === memory.getInt32(out + 32, true) && t[b + 3] === memory.getInt32(out + 48, true) &&
          t[b + 4] === memory.getInt32(out + 64, true) && t[b + 5] === memory.getInt32(out + 80, true) &&
          t[b + 6] === memory.getInt32(out + 96, true) && t[b + 7] === memory.getInt32(out + 112, true)
        );
      }
      if (k0 === 0 && k1 === 0) return false;
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
