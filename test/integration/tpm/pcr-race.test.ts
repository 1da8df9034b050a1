import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tpm } from '../../../src/tpm/index.js';
import { checkQuote, swtpmForSuite } from './helpers.js';

describe('quotes while another process keeps extending a quoted PCR', () => {
  const suite = swtpmForSuite();

  it('every quote verifies: PCR values that moved under tpm2_quote are retried, not returned', async () => {
    const tpm = new Tpm({ tcti: suite.swtpm().tcti, workDir: join(suite.dir(), 'tpm') });
    await tpm.createEk('ecc');
    const ak = await tpm.createAk({ signAlg: 'ecdsa' });
    // An IMA-like writer: extends PCR 10 every ~30 ms from its own process (a retry is needed
    // now and then; five failed attempts in a row would take a much busier writer).
    const writer = spawn('sh', ['-c', 'while :; do tpm2_pcrextend 10:sha256=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"); sleep 0.02; done'], {
      env: suite.swtpm().env,
      stdio: 'ignore',
      detached: true,
    });
    try {
      const attempts: number[] = [];
      for (let i = 0; i < 80; i++) {
        const nonce = `race${i}`;
        const quote = await tpm.quote({ nonce, bank: 'sha256', pcrs: [0, 10] });
        attempts.push(quote.attempts);
        expect(checkQuote(ak.akPublic, quote, nonce).status).toBe(0);
      }
      // Not asserted (timing dependent): how often a retry was needed.
      console.log(`quote attempts under concurrent extends: ${attempts.filter((a) => a > 1).length} of 80 needed a retry`);
    } finally {
      // The whole group: the shell and the tpm2_pcrextend it may be running.
      process.kill(-writer.pid!, 'SIGKILL');
    }
  });
});
