import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { softwareAkPublic } from '../../../src/quote/synthetic.js';
import { generateKeyPairSync } from 'node:crypto';
import { silentLogger } from '../../../src/log.js';
import { startVerifier } from '../../../src/servers/verifier/server.js';
import { readTlsMaterial } from '../../../src/crypto/ca.js';
import { HttpClient } from '../../../src/client/http.js';
import { directEnrollmentBody, noRetry, startBlackHole, waitFor } from './stack.js';

describe('verifier shutdown', () => {
  it('creates its CA on first start, and does not wait for a hung agent beyond the drain timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-verifier-stop-'));
    const hole = await startBlackHole();
    try {
      const verifier = await startVerifier({ host: '127.0.0.1', port: 0, dataDir: dir, requestTimeoutMs: 60_000, shutdownDrainMs: 300, logger: silentLogger });
      const tls = readTlsMaterial(join(dir, 'cv_ca'), 'client');
      const admin = new HttpClient(`https://127.0.0.1:${verifier.port}`, { name: 'verifier', retry: noRetry, tls: { ca: [tls.ca], cert: tls.cert, key: tls.key } });
      const ak = softwareAkPublic(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey).toString('base64');
      expect((await admin.post('/v2.1/agents/hung', directEnrollmentBody(hole.port, hole.cert, ak))).status).toBe(200);
      await waitFor('request in flight', 5000, async () => verifier.machine.inFlight('hung'));
      await admin.close();
      const t0 = Date.now();
      await verifier.close();
      expect(Date.now() - t0).toBeLessThan(3000);
      await waitFor('the hung connection closed by the verifier', 3000, async () => hole.closedByPeer >= 1);
    } finally {
      await hole.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
