import { createHash, generateKeyPairSync } from 'node:crypto';
import type { Figure } from './harness.js';
import {
  INITIAL_CLOCK,
  buildTpmPolicy,
  expectedDataPcr,
  resolveAk,
  signSoftwareQuote,
  softwareAkPublic,
  verifyQuote,
  type VerifyQuoteOptions,
} from '../src/quote/index.js';

/**
 * The verifier's hot path: an 11-PCR integrity quote (PCRs 0-9 and 16) checked with
 * the AK parsed once per agent, a parsed tpm_policy over PCRs 0-9, and PCR 16 against
 * the agent's key PEM. The quote string is decoded every time, as it arrives in JSON.
 */
function setup(type: 'rsa' | 'ec'): VerifyQuoteOptions {
  const ak = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const pcrs = new Map<number, Buffer>();
  for (let i = 0; i < 10; i++) pcrs.set(i, createHash('sha256').update(`pcr${i}`).digest());
  pcrs.set(16, Buffer.from(expectedDataPcr(pem, 'sha256'), 'hex'));
  const nonce = 'Q7fz0LmKc1TsTFyJiUkv';
  const q = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg: 'sha256', nonce, pcrs });
  const policy = buildTpmPolicy(Object.fromEntries([...pcrs].filter(([i]) => i < 10).map(([i, v]) => [String(i), v.toString('hex')])));
  const opts: VerifyQuoteOptions = {
    quote: q.quote,
    ak: resolveAk(softwareAkPublic(ak.publicKey, 'sha256').toString('base64')),
    nonce,
    hashAlg: 'sha256',
    dataPubkeyPem: pem,
    tpmPolicy: policy,
    lastClock: INITIAL_CLOCK,
  };
  if (!verifyQuote(opts).valid) throw new Error('benchmark quote does not verify');
  return opts;
}

/**
 * Operations per second of CPU time of this process, after a warm-up: the throughput of
 * one core. Wall-clock time would also count other processes on a shared machine (the
 * two figures agree on an idle one); GC threads' CPU time is counted, so this errs low.
 */
function opsPerCpuSecond(fn: () => unknown, seconds = 2): number {
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) fn();
  const start = process.cpuUsage();
  let count = 0;
  for (;;) {
    for (let i = 0; i < 100; i++) fn();
    count += 100;
    const used = process.cpuUsage(start);
    const cpuSeconds = (used.user + used.system) / 1e6;
    if (cpuSeconds >= seconds) return Math.round(count / cpuSeconds);
  }
}

function figure(name: string, type: 'rsa' | 'ec'): Figure {
  return {
    name,
    unit: 'ops/s',
    async run() {
      const opts = setup(type);
      return opsPerCpuSecond(() => verifyQuote(opts));
    },
  };
}

export const figures: Figure[] = [figure('quote.verify.rsa2048', 'rsa'), figure('quote.verify.ecc256', 'ec')];
