/**
 * The agent's quote path on a real swtpm: latency of Tpm.quoteWithDataPcr over 11 PCRs + PCR 16
 * (Keylime's default integrity quote) and how many tpm2-tools processes one quote costs.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianMs, type Figure } from './harness.js';
import { Tpm, type EkAlg } from '../src/tpm/index.js';
import { startSwtpm } from '../test/support/swtpm.js';

const PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const QUOTES = 40;

async function withAgentTpm<T>(alg: EkAlg, fn: (tpm: Tpm) => Promise<T>): Promise<T> {
  const swtpm = await startSwtpm({ ekCert: false });
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-tpm-'));
  try {
    const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    await tpm.createEk(alg);
    await tpm.createAk({ hashAlg: 'sha256' });
    return await fn(tpm);
  } finally {
    await swtpm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const nkDigest = createHash('sha256').update('-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n').digest();
let n = 0;
const quoteAgentStyle = (tpm: Tpm, dataDigest = nkDigest) =>
  tpm.quoteWithDataPcr({ nonce: `benchNonce${n++}`, bank: 'sha256', pcrs: PCRS, dataDigest });

export const figures: Figure[] = [
  {
    name: 'tpm.quoteWithDataPcr.rsa.11pcrs',
    unit: 'ms',
    run: () => withAgentTpm('rsa', async (tpm) => medianMs(() => quoteAgentStyle(tpm), QUOTES)),
  },
  {
    name: 'tpm.quoteWithDataPcr.ecc.11pcrs',
    unit: 'ms',
    run: () => withAgentTpm('ecc', async (tpm) => medianMs(() => quoteAgentStyle(tpm), QUOTES)),
  },
  {
    // Every quote with a new data digest: PCR 16 reset + extend + quote, the cold path.
    name: 'tpm.quoteWithDataPcr.rsa.11pcrs.newDigest',
    unit: 'ms',
    run: () =>
      withAgentTpm('rsa', async (tpm) =>
        medianMs(() => quoteAgentStyle(tpm, createHash('sha256').update(String(n)).digest()), QUOTES),
      ),
  },
  {
    name: 'tpm.quoteWithDataPcr.processes',
    unit: 'processes/quote',
    run: () =>
      withAgentTpm('rsa', async (tpm) => {
        await quoteAgentStyle(tpm);
        const before = tpm.processCount;
        for (let i = 0; i < 20; i++) await quoteAgentStyle(tpm);
        return (tpm.processCount - before) / 20;
      }),
  },
];
