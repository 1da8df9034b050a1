/**
 * SHA-256 and SHA-1 of many short messages at once: four messages per pass through a
 * WebAssembly SIMD kernel, one message per 32-bit lane.
 *
 * Why: node:crypto's one-shot `hash` costs about 180 ns per call before it hashes a
 * byte, which is most of the cost of hashing a 100-byte IMA template. Four lanes in
 * SIMD hash such a message in well under that, with no per-message call at all.
 *
 * Use: write each message's bytes at `cursor` in `bytes` (at most `room()` of them),
 * `add(length)` it, and after `hashAll(alg)` read its digest with `word(index, k, alg)`.
 * Where WebAssembly SIMD is missing, or a kernel fails its self-test, the same
 * interface hashes with node:crypto.
 *
 * The same memory also holds the caller's input (`input(n)`) and a small scratch area,
 * so a caller that reads its input, writes messages and reads digests works through a
 * single DataView: V8 reloads a DataView's state after every store through another
 * one, which made an 8-word copy between two views cost 8 times as much.
 */
import crypto from 'node:crypto';
import {
  ARENA_END,
  ARENA_START,
  DESC_BLOCKS,
  DESC_MAX,
  DESC_OUT_SHA1,
  DESC_OUT_SHA256,
  DESC_PTRS,
  DESC_SIZE,
  INPUT_START,
  K_TABLE,
  MAX_MESSAGE,
  MAX_MESSAGES,
  SCRATCH_START,
} from './lane-kernel.js';
import { sha1Kernel } from './sha1-kernel.js';
import { SHA256_K, sha256Kernel } from './sha256-kernel.js';

export { MAX_MESSAGE, MAX_MESSAGES } from './lane-kernel.js';

export type LaneAlg = 'sha256' | 'sha1';

/** Digest words of an algorithm (a comparison, not a keyed lookup: this is on the replay's hot path). */
function wordsOf(alg: LaneAlg): number {
  return alg === 'sha1' ? 5 : 8;
}

const PAGE = 65536;

type Kernel = (desc: number, groups: number) => void;

/** The part of the WebAssembly global used here (absent under --jitless; not in Node's type declarations). */
interface WasmModule { readonly __wasmModule: unique symbol }
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (limits: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The compiled kernels, or null where WebAssembly SIMD is unavailable. Built once per process. */
let compiled: { sha256: WasmModule; sha1: WasmModule } | null | undefined;

function compiledKernels(): { sha256: WasmModule; sha1: WasmModule } | null {
  if (compiled === undefined) {
    try {
      compiled = wasm ? { sha256: new wasm.Module(sha256Kernel()), sha1: new wasm.Module(sha1Kernel()) } : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * A memory and the kernels bound to it, or null when the engine refuses (a memory
 * reservation can fail under tight address-space limits): node:crypto then does the work.
 */
function instantiate(modules: { sha256: WasmModule; sha1: WasmModule }, pages: number): { memory: WasmMemory; kernels: Record<LaneAlg, Kernel> } | null {
  if (!wasm) return null;
  try {
    const memory = new wasm.Memory({ initial: pages, maximum: 65536 });
    const imports = { env: { memory } };
    return {
      memory,
      kernels: {
        sha256: new wasm.Instance(modules.sha256, imports).exports.sha256 as Kernel,
        sha1: new wasm.Instance(modules.sha1, imports).exports.sha1 as Kernel,
      },
    };
  } catch {
    return null;
  }
}

export class HashLanes {
  /** All of the memory: input, scratch and message arena. Replaced when `input` grows it. */
  bytes: Uint8Array;
  view: DataView;
  /** Where the next message starts. */
  cursor = ARENA_START;
  /** Messages added since the last reset. */
  count = 0;
  /** Offset of the scratch area in `bytes`. */
  readonly scratchOffset = SCRATCH_START;
  private readonly ptrs = new Int32Array(MAX_MESSAGES);
  private readonly lengths = new Int32Array(MAX_MESSAGES);
  private readonly memory: WasmMemory | null;
  private kernels: Record<LaneAlg, Kernel> | null = null;
  /** How many messages the descriptors describe (-1: none since the last reset). */
  private described = -1;

  constructor(options: { simd?: boolean } = {}) {
    const modules = options.simd === false ? null : compiledKernels();
    const pages = Math.ceil(INPUT_START / PAGE);
    const wasmSetup = modules ? instantiate(modules, pages) : null;
    this.memory = wasmSetup?.memory ?? null;
    const buffer = this.memory ? this.memory.buffer : new ArrayBuffer(pages * PAGE);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    for (let t = 0; t < 64; t++) for (let lane = 0; lane < 4; lane++) this.view.setInt32(K_TABLE + 16 * t + 4 * lane, SHA256_K[t]!, true);
    this.kernels = wasmSetup?.kernels ?? null;
    if (this.kernels && !this.selfTest()) this.kernels = null;
  }

  /**
   * Makes room for `length` bytes of input and returns their offset in `bytes`. Growing
   * replaces `bytes` and `view` (and anything cut from them); the arena is kept.
   */
  input(length: number): number {
    const need = INPUT_START + length;
    if (need > this.bytes.length) {
      const pages = Math.ceil(need / PAGE);
      if (this.memory) {
        this.memory.grow(pages - this.bytes.length / PAGE);
        this.bytes = new Uint8Array(this.memory.buffer);
      } else {
        const bigger = new Uint8Array(pages * PAGE);
        bigger.set(this.bytes.subarray(0, INPUT_START));
        this.bytes = bigger;
      }
      this.view = new DataView(this.bytes.buffer);
    }
    return INPUT_START;
  }

  /** True when the SIMD kernels do the hashing. */
  get simd(): boolean {
    return this.kernels !== null;
  }

  /** Bytes the next message may have, padding aside; 0 once the batch is full. */
  room(): number {
    if (this.count === MAX_MESSAGES) return 0;
    return Math.min(MAX_MESSAGE, ARENA_END - this.cursor) - 9;
  }

  /** Ends the message of `length` bytes written at `cursor` (length <= room()); returns its index. */
  add(length: number): number {
    const start = this.cursor;
    const blocks = (length + 9 + 63) >>> 6;
    const end = start + blocks * 64;
    // FIPS 180-4 §5.1.1 (the same for SHA-1 and SHA-256): 0x80, zeros, the length in
    // bits as a big-endian u64.
    const b = this.bytes;
    let p = start + length;
    b[p++] = 0x80;
    while ((p & 3) !== 0) b[p++] = 0;
    const view = this.view;
    for (; p < end - 8; p += 4) view.setUint32(p, 0);
    view.setUint32(end - 8, Math.floor(length / 0x20000000));
    view.setUint32(end - 4, (length << 3) >>> 0);
    const i = this.count++;
    this.ptrs[i] = start;
    this.lengths[i] = length;
    this.cursor = end;
    return i;
  }

  /** Hashes every message added since the last reset with `alg`. */
  hashAll(alg: LaneAlg = 'sha256'): void {
    const n = this.count;
    if (n === 0) return;
    const view = this.view;
    if (this.kernels === null) {
      for (let i = 0; i < n; i++) {
        const digest = crypto.hash(alg, this.message(i), 'buffer');
        const out = this.digestOffset(i, alg);
        for (let k = 0; k < wordsOf(alg); k++) view.setInt32(out + 16 * k, digest.readInt32BE(4 * k), true);
      }
      return;
    }
    const groups = (n + 3) >>> 2;
    // A second algorithm over the same batch reuses the descriptors.
    if (this.described !== n) this.describe(n, groups);
    this.kernels[alg](0, groups);
  }

  /** Group descriptors for the kernels: the messages' addresses and block counts. */
  private describe(n: number, groups: number): void {
    const view = this.view;
    for (let g = 0; g < groups; g++) {
      const at = g * DESC_SIZE;
      let most = 0;
      for (let lane = 0; lane < 4; lane++) {
        const i = 4 * g + lane;
        // A missing lane hashes the arena's first block and is never read.
        const blocks = i < n ? (this.lengths[i]! + 9 + 63) >>> 6 : 0;
        view.setInt32(at + DESC_PTRS + 4 * lane, i < n ? this.ptrs[i]! : ARENA_START, true);
        view.setInt32(at + DESC_BLOCKS + 4 * lane, blocks, true);
        if (blocks > most) most = blocks;
      }
      view.setInt32(at + DESC_MAX, most, true);
    }
    this.described = n;
  }

  /** Where message i's `alg` digest is in `view`: word k is the little-endian i32 at offset + 16k. */
  digestOffset(i: number, alg: LaneAlg = 'sha256'): number {
    return (i >>> 2) * DESC_SIZE + (alg === 'sha1' ? DESC_OUT_SHA1 : DESC_OUT_SHA256) + 4 * (i & 3);
  }

  /** Word k of message i's digest, as the big-endian u32 of digest bytes 4k..4k+3 (signed). */
  word(i: number, k: number, alg: LaneAlg = 'sha256'): number {
    return this.view.getInt32(this.digestOffset(i, alg) + 16 * k, true);
  }

  /** True when message i's digest is all zero bytes. */
  digestIsZero(i: number, alg: LaneAlg = 'sha256'): boolean {
    let any = 0;
    for (let k = 0; k < wordsOf(alg); k++) any |= this.word(i, k, alg);
    return any === 0;
  }

  /** Message i's digest as bytes (tests and tools; the hot path reads words). */
  digest(i: number, alg: LaneAlg = 'sha256'): Buffer {
    const out = Buffer.alloc(4 * wordsOf(alg));
    for (let k = 0; k < wordsOf(alg); k++) out.writeInt32BE(this.word(i, k, alg), 4 * k);
    return out;
  }

  /** Message i's bytes (a view into the arena, valid until reset). */
  message(i: number): Uint8Array {
    return this.bytes.subarray(this.ptrs[i]!, this.ptrs[i]! + this.lengths[i]!);
  }

  /** Forgets every message; the next one starts at the beginning of the arena. */
  reset(): void {
    this.cursor = ARENA_START;
    this.count = 0;
    this.described = -1;
  }

  /** Messages of every padding shape against node:crypto, so a miscompiled kernel is never used. */
  private selfTest(): boolean {
    const lengths = [0, 1, 55, 56, 63, 64, 119, 200];
    const messages = lengths.map((n, i) => Buffer.alloc(n, 0x61 + i));
    for (const m of messages) {
      this.bytes.set(m, this.cursor);
      this.add(m.length);
    }
    let ok = true;
    for (const alg of ['sha256', 'sha1'] as const) {
      this.hashAll(alg);
      ok &&= messages.every((m, i) => this.digest(i, alg).equals(crypto.hash(alg, m, 'buffer')));
    }
    this.reset();
    return ok;
  }
}
