/**
 * SHA-1's compression (FIPS 180-4 §6.1.2) for the hash lanes, four messages at once:
 * the template-hash column of most real IMA lists (Keylime's default log_hash_alg).
 */
import { DESC_OUT_SHA1, laneKernel, type KernelKit } from './lane-kernel.js';
import type { Local } from './wasm-asm.js';

const IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
const K = [0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6];

function rounds(kit: KernelKit): readonly Local[] {
  const { f } = kit;
  const v = () => f.v128Local();
  const w = Array.from({ length: 16 }, v);
  const tmp = v();
  // Renamed, not moved: the new a lives in e's local, the rotated b stays in b's.
  let [a, b, c, d, e] = kit.work as [Local, Local, Local, Local, Local];
  for (let t = 0; t < 80; t++) {
    const wt = w[t % 16]!;
    if (t < 16) {
      if (t % 4 === 0) kit.loadQuad(t / 4, w.slice(t, t + 4));
    } else {
      // w[t] = ROTL1(w[t-3] ^ w[t-8] ^ w[t-14] ^ w[t-16])
      f.get(w[(t - 3) % 16]!).get(w[(t - 8) % 16]!).xor().get(w[(t - 14) % 16]!).xor().get(wt).xor().set(tmp);
      kit.rotl(tmp, 1);
      f.set(wt);
    }
    // T = ROTL5(a) + f_t(b, c, d) + e + K_t + w[t], summed so that ROTL5(a), the term on
    // the round-to-round critical path, comes last.
    f.get(e).v128Const32(K[Math.floor(t / 20)]!).add32().get(wt).add32();
    if (t < 20) f.get(c).get(d).get(b).bitselect(); // Ch: c where b, else d
    else if (t >= 40 && t < 60) f.get(c).get(b).get(b).get(d).xor().bitselect(); // Maj: c where b and d differ, else b
    else f.get(b).get(c).xor().get(d).xor(); // Parity
    f.add32();
    kit.rotl(a, 5);
    f.add32().set(e);
    kit.rotl(b, 30);
    f.set(b);
    [a, b, c, d, e] = [e, a, b, c, d];
  }
  return [a, b, c, d, e];
}

/** The module exporting `sha1(desc, groups)`. */
export function sha1Kernel(): Uint8Array {
  return laneKernel({ name: 'sha1', iv: IV, outOffset: DESC_OUT_SHA1, i32Locals: 0, rounds });
}
