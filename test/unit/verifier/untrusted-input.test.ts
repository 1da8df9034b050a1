import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeylimeError } from '../../../src/errors.js';
import { resolveAk } from '../../../src/quote/verify.js';
import { parseTpmPolicy } from '../../../src/quote/tpm-policy.js';
import { checkIntegrityRound } from '../../../src/servers/verifier/round.js';
import { parseEnrollment } from '../../../src/servers/verifier/validate.js';
import type { VerifierAgent } from '../../../src/servers/verifier/record.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { enrollmentBody } from './harness.js';

const agent = new SoftAgent('fuzz');
const defaults = { verifierId: 'default', verifierIp: '127.0.0.1', verifierPort: 8881 };

function mutateString(s: string, seed: number): string {
  const i = seed % Math.max(1, s.length);
  switch (seed % 4) {
    case 0:
      return s.slice(0, i);
    case 1:
      return s.slice(0, i) + String.fromCharCode(seed % 256) + s.slice(i + 1);
    case 2:
      return s.slice(0, i) + s.slice(i + 1);
    default:
      return randomBytes(seed % 40).toString('base64');
  }
}

describe('untrusted input never escapes as anything but a KeylimeError', () => {
  it('agent answers: any mutation of a good answer ends in failure events, not exceptions', async () => {
    const record = parseEnrollment('fuzz', enrollmentBody(agent), defaults).record as VerifierAgent;
    const ak = resolveAk(agent.akTpm);
    const tpmPolicy = parseTpmPolicy('{"mask": "0x0"}');
    const good = agent.integrity({ nonce: 'n0nce000000000000000', mask: '0x0', partial: 0 });
    const base = { evidence: { agent: record, runtimePolicy: undefined, mbPolicy: undefined }, nonce: 'n0nce000000000000000', ak, tpmPolicy, evaluators: [] };
    expect((await checkIntegrityRound({ ...base, results: good })).events).toEqual([]);
    const keys = Object.keys(good);
    for (let seed = 1; seed < 1500; seed++) {
      const results: Record<string, unknown> = { ...good };
      const key = keys[seed % keys.length]!;
      results[key] = seed % 13 === 0 ? [seed] : seed % 17 === 0 ? null : mutateString(String(good[key]), seed);
      const round = await checkIntegrityRound({ ...base, results });
      if (round.events.length === 0) {
        // Only harmless changes may pass: the signed parts and the key intact (padding in the pcrs dump is not data).
        const signed = (q: unknown) => String(q).split(':').slice(0, 2).join(':');
        expect(signed(results.quote)).toBe(signed(good.quote));
        expect(results.pubkey).toBe(good.pubkey);
      }
    }
    // Bit flips in every byte of the TPMS_ATTEST part.
    const [attest, sig, pcrs] = (good.quote as string).slice(1).split(':') as [string, string, string];
    const bytes = Buffer.from(attest, 'base64');
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i]! ^= 1 << (i % 8);
      const round = await checkIntegrityRound({ ...base, results: { ...good, quote: `r${flipped.toString('base64')}:${sig}:${pcrs}` } });
      expect(round.events.length).toBeGreaterThan(0);
      expect(round.events[0]!.recoverable).toBe(false);
    }
  });

  it('POST bodies: random and mutated bodies are refused with KeylimeErrors only', () => {
    const good = enrollmentBody(agent);
    expect(() => parseEnrollment('fuzz', good, defaults)).not.toThrow();
    const keys = Object.keys(good);
    for (let seed = 1; seed < 3000; seed++) {
      const body: Record<string, unknown> = { ...good };
      const key = keys[seed % keys.length]!;
      const v = good[key];
      body[key] = seed % 11 === 0 ? { nested: seed } : seed % 7 === 0 ? seed : typeof v === 'string' ? mutateString(v, seed) : seed % 5 === 0 ? null : [String(seed)];
      try {
        parseEnrollment('fuzz', body, defaults);
      } catch (e) {
        expect(e).toBeInstanceOf(KeylimeError);
        expect((e as KeylimeError).status).toBeGreaterThanOrEqual(400);
        expect((e as KeylimeError).status).toBeLessThan(500);
      }
    }
    for (const body of [null, 1, 'x', [], [1], true]) expect(() => parseEnrollment('fuzz', body, defaults)).toThrow(KeylimeError);
  });
});
