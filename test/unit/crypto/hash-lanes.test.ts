/**
 * The SIMD SHA-256 and SHA-1 lanes the IMA replay hashes template data with: every
 * padding shape, groups whose four messages need different block counts, a full batch,
 * and the node:crypto fallback, all against node:crypto.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashLanes, MAX_MESSAGE, MAX_MESSAGES, type LaneAlg } from '../../../src/crypto/hash-lanes.js';
import { seededRandom } from '../../support/prng.js';

const hashOf = (alg: LaneAlg, m: Uint8Array) => crypto.createHash(alg).update(m).digest();
const sha256 = (m: Uint8Array) => hashOf('sha256', m);
const ALGS: LaneAlg[] = ['sha256', 'sha1'];

function addAll(lanes: HashLanes, messages: Buffer[]): void {
  for (const m of messages) {
    expect(lanes.room()).toBeGreaterThanOrEqual(m.length);
    lanes.bytes.set(m, lanes.cursor);
    lanes.add(m.length);
  }
}

describe('HashLanes', () => {
  // Node 22+ on x86-64 and arm64 has WebAssembly SIMD: the kernel must pass its self-test here.
  it('uses the SIMD kernel on this machine', () => {
    expect(new HashLanes().simd).toBe(true);
    expect(new HashLanes({ simd: false }).simd).toBe(false);
  });

  for (const simd of [true, false]) {
    it(`${simd ? 'SIMD' : 'fallback'}: every length from 0 to 300 bytes, in every group position`, () => {
      const lanes = new HashLanes({ simd });
      const rnd = seededRandom(7);
      // Lengths in order put 55/56 (one or two blocks) and 119/120 (two or three) side by side in groups.
      const messages = Array.from({ length: 301 }, (_, n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256))));
      addAll(lanes, messages);
      for (const alg of ALGS) {
        lanes.hashAll(alg);
        messages.forEach((m, i) => expect(lanes.digest(i, alg).toString('hex'), `${alg}, length ${m.length}`).toBe(hashOf(alg, m).toString('hex')));
      }
    });

    it(`${simd ? 'SIMD' : 'fallback'}: random lengths up to the largest message, and a full batch`, () => {
      const lanes = new HashLanes({ simd });
      const rnd = seededRandom(11);
      const messages: Buffer[] = [];
      for (let i = 0; i < MAX_MESSAGES; i++) {
        const n = i % 97 === 0 ? MAX_MESSAGE - Math.floor(rnd() * 64) : Math.floor(rnd() * 200);
        if (lanes.room() < n) break;
        const m = crypto.randomBytes(n);
        messages.push(m);
        lanes.bytes.set(m, lanes.cursor);
        lanes.add(n);
      }
      expect(messages.length).toBeGreaterThan(MAX_MESSAGES / 2);
      for (const alg of ALGS) {
        lanes.hashAll(alg);
        messages.forEach((m, i) => expect(lanes.digest(i, alg).equals(hashOf(alg, m)), `${alg}, message ${i}, ${m.length} bytes`).toBe(true));
      }
      if (messages.length === MAX_MESSAGES) expect(lanes.room()).toBe(0);
    });
  }

  it('after a reset the next batch starts over; growing the input keeps nothing stale', () => {
    const lanes = new HashLanes();
    addAll(lanes, [Buffer.from('first batch')]);
    lanes.hashAll();
    lanes.reset();
    const at = lanes.input(32 * 1024 * 1024);
    expect(lanes.bytes.length).toBeGreaterThanOrEqual(at + 32 * 1024 * 1024);
    lanes.bytes.fill(0x5a, at, at + 1000);
    const messages = [Buffer.from('abc'), Buffer.alloc(0), Buffer.alloc(64, 1), Buffer.alloc(1000, 2), Buffer.from('x')];
    addAll(lanes, messages);
    lanes.hashAll();
    messages.forEach((m, i) => expect(lanes.digest(i).equals(sha256(m))).toBe(true));
    // The input region is untouched by the arena.
    expect(lanes.bytes.subarray(at, at + 1000).every((b) => b === 0x5a)).toBe(true);
  });

  it('the FIPS 180-4 example vectors', () => {
    const lanes = new HashLanes();
    addAll(lanes, [Buffer.from('abc'), Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')]);
    lanes.hashAll('sha256');
    lanes.hashAll('sha1');
    expect(lanes.digest(0).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(lanes.digest(1).toString('hex')).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    // Both digests of a message are kept side by side.
    expect(lanes.digest(0, 'sha1').toString('hex')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(lanes.digest(1, 'sha1').toString('hex')).toBe('84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  });
});
