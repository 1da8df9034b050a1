/**
 * SHA-256 of many short messages at once: four messages per pass through a WebAssembly
 * SIMD kernel, one message per 32-bit lane.
 *
 * Why: node:crypto's one-shot `hash` costs about 180 ns per call before it hashes a
 * byte, which is most of the cost of hashing a 100-byte IMA template. Four lanes in
 * SIMD hash such a message for about 40% of that, with no per-message call at all.
 *
 * Use: write each message's bytes at `cursor` in `bytes` (at most `room()` of them),
 * `add(length)` it, and after `hashAll()` read its digest with `word(index, k)`.
 * Where WebAssembly SIMD is missing, or the kernel fails its self-test, the same
 * interface hashes with node:crypto.
 *
 * The same memory also holds the caller's input (`input(n)`) and a small scratch area,
 * so a caller that reads its input, writes messages and reads digests works through a
 * single DataView: V8 reloads a DataView's state after every store through another
 * one, which made an 8-word copy between two views cost 8 times as much.
 */
import crypto from 'node:crypto';
import { WasmFunction, type Local } from './wasm-asm.js';

const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/**
 * One group descriptor, written by `hashAll` and read by the kernel:
 * +0 four message addresses, +16 four block counts, +32 the largest count,
 * +48 the four digests, word-interleaved (word k of lane i at +48 + 16k + 4i).
 */
const DESC_PTRS = 0;
const DESC_BLOCKS = 16;
const DESC_MAX = 32;
const DESC_OUT = 48;
const DESC_SIZE = 176;

/** Messages per `hashAll` at most; the replay flushes its chunks well before. */
export const MAX_MESSAGES = 1024;
const DESC_AREA = (MAX_MESSAGES / 4) * DESC_SIZE;
/** Scratch bytes for the caller (the replay's PCR extend buffer). */
export const SCRATCH_SIZE = 256;
const SCRATCH_START = Math.ceil(DESC_AREA / 64) * 64;
/** K[0..63], each in all four lanes, for the kernel's round loop. */
const K_TABLE = SCRATCH_START + SCRATCH_SIZE;
const ARENA_START = K_TABLE + 64 * 16;
const ARENA_SIZE = 1 << 20;
/** The longest message one `add` takes (a path is at most 4096 bytes). */
export const MAX_MESSAGE = 8192;
const ARENA_END = ARENA_START + ARENA_SIZE;
/** A group's shorter messages are read up to its longest one's block count: the slack keeps that inside memory. */
const INPUT_START = ARENA_END + 2 * MAX_MESSAGE + 256;
const PAGE = 65536;

// Byte shuffles of the 4×4 word transpose (with the big-endian byte swap folded into the second step).
const INTERLEAVE_LO = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const INTERLEAVE_HI = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
const GATHER_EVEN_BE = [3, 2, 1, 0, 7, 6, 5, 4, 19, 18, 17, 16, 23, 22, 21, 20];
const GATHER_ODD_BE = [11, 10, 9, 8, 15, 14, 13, 12, 27, 26, 25, 24, 31, 30, 29, 28];

/**
 * The kernel `hash(desc, groups)`: for each group descriptor, runs SHA-256 over the four
 * messages' blocks (already padded) and stores each lane's state after its last block.
 */
function kernel(): Uint8Array {
  const f = new WasmFunction(2, 7);
  const desc = f.i32Local(0);
  const groups = f.i32Local(1);
  const ptr = [f.i32Local(2), f.i32Local(3), f.i32Local(4), f.i32Local(5)];
  const maxBlocks = f.i32Local(6);
  const block = f.i32Local(7);
  const kPtr = f.i32Local(8);
  const v = () => f.v128Local();
  const state = Array.from({ length: 8 }, v);
  const work = Array.from({ length: 8 }, v);
  const w = Array.from({ length: 16 }, v);
  const row = Array.from({ length: 4 }, v);
  const pair = Array.from({ length: 4 }, v);
  const blocks = v();
  const t1 = v();
  const tmp = v();
  const xorA = v();
  const xorB = v();

  const rotr = (x: Local, n: number) => f.get(x).shrU32(n).get(x).shl32(32 - n).or();
  // σ0/σ1 of the message schedule, Σ0/Σ1 of the rounds (FIPS 180-4 §4.1.2).
  const sigma = (x: Local, r1: number, r2: number, s: number) => {
    rotr(x, r1);
    rotr(x, r2).xor();
    f.get(x).shrU32(s).xor();
  };
  const bigSigma = (x: Local, r1: number, r2: number, r3: number) => {
    rotr(x, r1);
    rotr(x, r2).xor();
    rotr(x, r3).xor();
  };

  /** w[4q .. 4q+3] for the four lanes from words 4q .. 4q+3 of each lane's block. */
  const loadQuad = (q: number) => {
    for (let i = 0; i < 4; i++) f.get(ptr[i]!).v128Load(q * 16).set(row[i]!);
    f.get(row[0]!).get(row[1]!).shuffle(INTERLEAVE_LO).set(pair[0]!);
    f.get(row[0]!).get(row[1]!).shuffle(INTERLEAVE_HI).set(pair[1]!);
    f.get(row[2]!).get(row[3]!).shuffle(INTERLEAVE_LO).set(pair[2]!);
    f.get(row[2]!).get(row[3]!).shuffle(INTERLEAVE_HI).set(pair[3]!);
    f.get(pair[0]!).get(pair[2]!).shuffle(GATHER_EVEN_BE).set(w[4 * q]!);
    f.get(pair[0]!).get(pair[2]!).shuffle(GATHER_ODD_BE).set(w[4 * q + 1]!);
    f.get(pair[1]!).get(pair[3]!).shuffle(GATHER_EVEN_BE).set(w[4 * q + 2]!);
    f.get(pair[1]!).get(pair[3]!).shuffle(GATHER_ODD_BE).set(w[4 * q + 3]!);
  };

  f.loop(); // groups
  for (let i = 0; i < 4; i++) f.get(desc).i32Load(DESC_PTRS + 4 * i).set(ptr[i]!);
  f.get(desc).v128Load(DESC_BLOCKS).set(blocks);
  f.get(desc).i32Load(DESC_MAX).set(maxBlocks);
  f.i32Const(0).set(block);
  for (let k = 0; k < 8; k++) f.v128Const32(IV[k]!).set(state[k]!);

  f.loop(); // blocks
  for (let k = 0; k < 8; k++) f.get(state[k]!).set(work[k]!);
  // Registers are renamed instead of moved: after a round, the new a lives in h's local
  // and the new e in d's.
  let [a, b, c, d, e, ff, g, h] = work as [Local, Local, Local, Local, Local, Local, Local, Local];
  let [ab, bc] = [xorA, xorB];
  f.get(b).get(c).xor().set(bc);
  const round = (t: number, kFromTable: boolean) => {
    const wt = w[t % 16]!;
    if (t < 16) {
      if (t % 4 === 0) loadQuad(t / 4);
    } else {
      // w[t] = w[t-16] + σ0(w[t-15]) + w[t-7] + σ1(w[t-2])
      f.get(wt);
      sigma(w[(t - 15) % 16]!, 7, 18, 3);
      f.add32().get(w[(t - 7) % 16]!).add32();
      sigma(w[(t - 2) % 16]!, 17, 19, 10);
      f.add32().set(wt);
    }
    // t1 = h + K[t] + w[t] + Ch(e, f, g) + Σ1(e), summed in that order because the
    // first terms are ready early and Σ1(e) comes last on the critical path.
    f.get(h);
    if (kFromTable) f.get(kPtr).v128Load(16 * (t % 16));
    else f.v128Const32(K[t]!);
    f.add32().get(wt).add32();
    f.get(ff).get(g).get(e).bitselect().add32();
    bigSigma(e, 6, 11, 25);
    f.add32().set(t1);
    f.get(d).get(t1).add32().set(d);
    // a' = t1 + Σ0(a) + Maj(a, b, c), with Maj = b ^ ((a ^ b) & (b ^ c)): this round's
    // a ^ b is the next round's b ^ c.
    bigSigma(a, 2, 13, 22);
    f.get(a).get(b).xor().set(ab);
    f.get(b).get(ab).get(bc).and().xor().add32().get(t1).add32().set(h);
    [ab, bc] = [bc, ab];
    [a, b, c, d, e, ff, g, h] = [h, a, b, c, d, e, ff, g];
  };
  // Rounds 0-15 read the block; 16-63 are one loop over 16 rounds (a whole number of
  // renamings, so the locals line up again), which keeps the code small enough to stay
  // in the instruction cache next to everything else the replay runs.
  for (let t = 0; t < 16; t++) round(t, false);
  f.i32Const(K_TABLE + 16 * 16).set(kPtr);
  f.loop();
  for (let t = 16; t < 32; t++) round(t, true);
  f.get(kPtr).i32Const(16 * 16).i32Add().tee(kPtr).i32Const(K_TABLE + 64 * 16).i32LtU().brIf();
  f.end();
  const final = [a, b, c, d, e, ff, g, h];
  for (let k = 0; k < 8; k++) f.get(state[k]!).get(final[k]!).add32().set(state[k]!);

  // Lanes whose last block this was keep this state as their digest.
  f.get(block).i32Const(1).i32Add().set(block);
  f.get(blocks).get(block).splat32().eq32().set(tmp);
  for (let k = 0; k < 8; k++) {
    f.get(desc).get(state[k]!).get(desc).v128Load(DESC_OUT + 16 * k).get(tmp).bitselect().v128Store(DESC_OUT + 16 * k);
  }
  for (let i = 0; i < 4; i++) f.get(ptr[i]!).i32Const(64).i32Add().set(ptr[i]!);
  f.get(block).get(maxBlocks).i32LtU().brIf();
  f.end();

  f.get(desc).i32Const(DESC_SIZE).i32Add().set(desc);
  f.get(groups).i32Const(1).i32Sub().tee(groups).brIf();
  f.end();
  return f.module('hash');
}

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

/** The compiled kernel, or null where WebAssembly SIMD is unavailable. Built once per process. */
let compiled: WasmModule | null | undefined;

function compiledKernel(): WasmModule | null {
  if (compiled === undefined) {
    try {
      compiled = wasm ? new wasm.Module(kernel()) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

export class Sha256Lanes {
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
  private run: Kernel | null;

  constructor(options: { simd?: boolean } = {}) {
    const module = options.simd === false ? null : compiledKernel();
    const pages = Math.ceil(INPUT_START / PAGE);
    this.memory = module && wasm ? new wasm.Memory({ initial: pages, maximum: 65536 }) : null;
    const buffer = this.memory ? this.memory.buffer : new ArrayBuffer(pages * PAGE);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    for (let t = 0; t < 64; t++) for (let lane = 0; lane < 4; lane++) this.view.setInt32(K_TABLE + 16 * t + 4 * lane, K[t]!, true);
    let run: Kernel | null = null;
    if (module && this.memory && wasm) {
      const instance = new wasm.Instance(module, { env: { memory: this.memory } });
      run = instance.exports.hash as Kernel;
    }
    this.run = run;
    if (run && !this.selfTest()) this.run = null;
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

  /** Bytes of memory in use, input included. */
  get size(): number {
    return this.bytes.length;
  }

  /** True when the SIMD kernel does the hashing. */
  get simd(): boolean {
    return this.run !== null;
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
    // FIPS 180-4 §5.1.1: 0x80, zeros, the length in bits as a big-endian u64.
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

  /** Hashes every message added since the last reset. */
  hashAll(): void {
    const n = this.count;
    if (n === 0) return;
    const view = this.view;
    if (this.run === null) {
      for (let i = 0; i < n; i++) {
        const digest = crypto.hash('sha256', this.bytes.subarray(this.ptrs[i]!, this.ptrs[i]! + this.lengths[i]!), 'buffer');
        const out = outAt(i);
        for (let k = 0; k < 8; k++) view.setInt32(out + 16 * k, digest.readInt32BE(4 * k), true);
      }
      return;
    }
    const groups = (n + 3) >>> 2;
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
    this.run(0, groups);
  }

  /** Word k (0..7) of message i's digest, as the big-endian u32 of digest bytes 4k..4k+3 (signed). */
  word(i: number, k: number): number {
    return this.view.getInt32(outAt(i) + 16 * k, true);
  }

  /** Where message i's digest is in `view`: word k is the little-endian i32 at offset + 16k. */
  digestOffset(i: number): number {
    return outAt(i);
  }

  /** True when message i's digest is all zero bytes. */
  digestIsZero(i: number): boolean {
    const out = outAt(i);
    let any = 0;
    for (let k = 0; k < 8; k++) any |= this.view.getInt32(out + 16 * k, true);
    return any === 0;
  }

  /** Message i's bytes (a view into the arena, valid until reset). */
  message(i: number): Uint8Array {
    return this.bytes.subarray(this.ptrs[i]!, this.ptrs[i]! + this.lengths[i]!);
  }

  /** Message i's digest as bytes (tests and tools; the hot path reads words). */
  digest(i: number): Buffer {
    const out = Buffer.alloc(32);
    for (let k = 0; k < 8; k++) out.writeInt32BE(this.word(i, k), 4 * k);
    return out;
  }

  /** Forgets every message; the next one starts at the beginning of the arena. */
  reset(): void {
    this.cursor = ARENA_START;
    this.count = 0;
  }

  /** Messages of every padding shape against node:crypto, so a miscompiled kernel is never used. */
  private selfTest(): boolean {
    const lengths = [0, 1, 55, 56, 63, 64, 119, 200];
    const messages = lengths.map((n, i) => Buffer.alloc(n, 0x61 + i));
    for (const m of messages) {
      this.bytes.set(m, this.cursor);
      this.add(m.length);
    }
    this.hashAll();
    const ok = messages.every((m, i) => this.digest(i).equals(crypto.hash('sha256', m, 'buffer')));
    this.reset();
    return ok;
  }
}

function outAt(i: number): number {
  return (i >>> 2) * DESC_SIZE + DESC_OUT + 4 * (i & 3);
}
