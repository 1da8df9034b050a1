/**
 * The memory layout the hash lanes share with their WebAssembly kernels, and the part of
 * every kernel that is not the compression itself: walking the group descriptors, the
 * blocks of four padded messages, the transposed loads and the per-lane digest stores.
 */
import { WasmFunction, type Local } from './wasm-asm.js';

/**
 * One group descriptor, written by `HashLanes.hashAll` and read by the kernels:
 * +0 four message addresses, +16 four block counts, +32 the largest count, then each
 * algorithm's four digests, word-interleaved (word k of lane i at out + 16k + 4i).
 */
export const DESC_PTRS = 0;
export const DESC_BLOCKS = 16;
export const DESC_MAX = 32;
export const DESC_OUT_SHA256 = 48;
export const DESC_OUT_SHA1 = DESC_OUT_SHA256 + 8 * 16;
export const DESC_SIZE = DESC_OUT_SHA1 + 5 * 16;

/** Messages per `hashAll` at most; the replay flushes its chunks well before. */
export const MAX_MESSAGES = 1024;
const DESC_AREA = (MAX_MESSAGES / 4) * DESC_SIZE;
/** Scratch bytes for the caller (the replay's PCR extend buffer). */
const SCRATCH_SIZE = 256;
export const SCRATCH_START = Math.ceil(DESC_AREA / 64) * 64;
/** SHA-256's K[0..63], each in all four lanes, for its round loop. */
export const K_TABLE = SCRATCH_START + SCRATCH_SIZE;
export const ARENA_START = K_TABLE + 64 * 16;
const ARENA_SIZE = 1 << 20;
export const ARENA_END = ARENA_START + ARENA_SIZE;
/** The longest message one `add` takes (a path is at most 4096 bytes). */
export const MAX_MESSAGE = 8192;
/** A group's shorter messages are read up to its longest one's block count: the slack keeps that inside memory. */
export const INPUT_START = ARENA_END + 2 * MAX_MESSAGE + 256;

// Byte shuffles of the 4×4 word transpose (with the big-endian byte swap folded into the second step).
const INTERLEAVE_LO = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const INTERLEAVE_HI = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
const GATHER_EVEN_BE = [3, 2, 1, 0, 7, 6, 5, 4, 19, 18, 17, 16, 23, 22, 21, 20];
const GATHER_ODD_BE = [11, 10, 9, 8, 15, 14, 13, 12, 27, 26, 25, 24, 31, 30, 29, 28];

/** What a compression function gets to emit one block's rounds with. */
export interface KernelKit {
  f: WasmFunction;
  /** The working variables, holding the state when the rounds begin. */
  work: readonly Local[];
  /** Sets into[0..3] to words 4q .. 4q+3 of the block, for the four lanes. */
  loadQuad(q: number, into: readonly Local[]): void;
  /** The i-th of the i32 locals the compression asked for. */
  i32(i: number): Local;
  /** Rotate each lane left by n. */
  rotl(x: Local, n: number): void;
}

export interface Compression {
  /** Name of the exported function. */
  name: string;
  iv: readonly number[];
  /** Where in a descriptor this algorithm's digests go. */
  outOffset: number;
  i32Locals: number;
  /** Emits one block's rounds; returns the locals holding the final working values, in state order. */
  rounds(kit: KernelKit): readonly Local[];
}

/**
 * A kernel `name(desc, groups)`: for each group descriptor, runs the compression over the
 * four messages' blocks (already padded) and stores each lane's state after its last block.
 */
export function laneKernel(c: Compression): Uint8Array {
  const f = new WasmFunction(2, 6 + c.i32Locals);
  const desc = f.i32Local(0);
  const groups = f.i32Local(1);
  const ptr = [f.i32Local(2), f.i32Local(3), f.i32Local(4), f.i32Local(5)];
  const maxBlocks = f.i32Local(6);
  const block = f.i32Local(7);
  const v = () => f.v128Local();
  const words = c.iv.length;
  const state = Array.from({ length: words }, v);
  const work = Array.from({ length: words }, v);
  const row = Array.from({ length: 4 }, v);
  const pair = Array.from({ length: 4 }, v);
  const blocks = v();
  const mask = v();

  const kit: KernelKit = {
    f,
    work,
    i32: (i) => f.i32Local(8 + i),
    rotl: (x, n) => {
      f.get(x).shl32(n).get(x).shrU32(32 - n).or();
    },
    loadQuad: (q, into) => {
      for (let i = 0; i < 4; i++) f.get(ptr[i]!).v128Load(q * 16).set(row[i]!);
      f.get(row[0]!).get(row[1]!).shuffle(INTERLEAVE_LO).set(pair[0]!);
      f.get(row[0]!).get(row[1]!).shuffle(INTERLEAVE_HI).set(pair[1]!);
      f.get(row[2]!).get(row[3]!).shuffle(INTERLEAVE_LO).set(pair[2]!);
      f.get(row[2]!).get(row[3]!).shuffle(INTERLEAVE_HI).set(pair[3]!);
      f.get(pair[0]!).get(pair[2]!).shuffle(GATHER_EVEN_BE).set(into[0]!);
      f.get(pair[0]!).get(pair[2]!).shuffle(GATHER_ODD_BE).set(into[1]!);
      f.get(pair[1]!).get(pair[3]!).shuffle(GATHER_EVEN_BE).set(into[2]!);
      f.get(pair[1]!).get(pair[3]!).shuffle(GATHER_ODD_BE).set(into[3]!);
    },
  };

  f.loop(); // groups
  for (let i = 0; i < 4; i++) f.get(desc).i32Load(DESC_PTRS + 4 * i).set(ptr[i]!);
  f.get(desc).v128Load(DESC_BLOCKS).set(blocks);
  f.get(desc).i32Load(DESC_MAX).set(maxBlocks);
  f.i32Const(0).set(block);
  for (let k = 0; k < words; k++) f.v128Const32(c.iv[k]!).set(state[k]!);

  f.loop(); // blocks
  for (let k = 0; k < words; k++) f.get(state[k]!).set(work[k]!);
  const final = c.rounds(kit);
  for (let k = 0; k < words; k++) f.get(state[k]!).get(final[k]!).add32().set(state[k]!);

  // Lanes whose last block this was keep this state as their digest.
  f.get(block).i32Const(1).i32Add().set(block);
  f.get(blocks).get(block).splat32().eq32().set(mask);
  for (let k = 0; k < words; k++) {
    const at = c.outOffset + 16 * k;
    f.get(desc).get(state[k]!).get(desc).v128Load(at).get(mask).bitselect().v128Store(at);
  }
  for (let i = 0; i < 4; i++) f.get(ptr[i]!).i32Const(64).i32Add().set(ptr[i]!);
  f.get(block).get(maxBlocks).i32LtU().brIf();
  f.end();

  f.get(desc).i32Const(DESC_SIZE).i32Add().set(desc);
  f.get(groups).i32Const(1).i32Sub().tee(groups).brIf();
  f.end();
  return f.module(c.name);
}
