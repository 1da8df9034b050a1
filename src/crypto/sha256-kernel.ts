/**
 * SHA-256's compression (FIPS 180-4 §6.2.2) for the hash lanes, four messages at once.
 */
import { DESC_OUT_SHA256, K_TABLE, laneKernel, type KernelKit } from './lane-kernel.js';
import type { Local } from './wasm-asm.js';

export const SHA256_K = [
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

function rounds(kit: KernelKit): readonly Local[] {
  const { f } = kit;
  const v = () => f.v128Local();
  const w = Array.from({ length: 16 }, v);
  const t1 = v();
  const kPtr = kit.i32(0);
  const rotr = (x: Local, n: number) => kit.rotl(x, 32 - n);
  // σ0/σ1 of the message schedule, Σ0/Σ1 of the rounds (§4.1.2).
  const sigma = (x: Local, r1: number, r2: number, s: number) => {
    rotr(x, r1);
    rotr(x, r2);
    f.xor().get(x).shrU32(s).xor();
  };
  const bigSigma = (x: Local, r1: number, r2: number, r3: number) => {
    rotr(x, r1);
    rotr(x, r2);
    f.xor();
    rotr(x, r3);
    f.xor();
  };

  // Registers are renamed instead of moved: after a round, the new a lives in h's local
  // and the new e in d's.
  let [a, b, c, d, e, ff, g, h] = kit.work as [Local, Local, Local, Local, Local, Local, Local, Local];
  let [ab, bc] = [v(), v()];
  f.get(b).get(c).xor().set(bc);
  const round = (t: number, kFromTable: boolean) => {
    const wt = w[t % 16]!;
    if (t < 16) {
      if (t % 4 === 0) kit.loadQuad(t / 4, w.slice(t, t + 4));
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
    else f.v128Const32(SHA256_K[t]!);
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
  return [a, b, c, d, e, ff, g, h];
}

/** The module exporting `sha256(desc, groups)`; it reads K from K_TABLE, which the caller fills. */
export function sha256Kernel(): Uint8Array {
  return laneKernel({ name: 'sha256', iv: IV, outOffset: DESC_OUT_SHA256, i32Locals: 1, rounds });
}
