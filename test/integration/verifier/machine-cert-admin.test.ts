import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/client/http.js';
import { initCa, issueCertificate, readTlsMaterial } from '../../../src/crypto/ca.js';
import { silentLogger } from '../../../src/log.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';

const noRetry = { retryInterval: 0, maxRetries: 0, exponentialBackoff: false };

describe('verifier admin API and machine certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-admin-'));
  const caDir = join(dir, 'cv_ca');
  let verifier: RunningVerifier;
  const clients: HttpClient[] = [];
  const client = (cert: string, key: string) => {
    const ca = readTlsMaterial(caDir, 'client').ca;
    const c = new HttpClient(`https://127.0.0.1:${verifier.port}`, { name: 'verifier', retry: noRetry, tls: { ca: [ca], cert, key } });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    await initCa(caDir, { hosts: ['127.0.0.1'] });
    verifier = await startVerifier({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'verifier'), certDir: caDir, logger: silentLogger });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await verifier?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a machine's certificate (CN = an agent id, signed by the same CA) cannot use the admin API; the admin certificate can", async () => {
    const machine = await issueCertificate(caDir, { kind: 'client', name: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000', outDir: join(dir, 'machine') });
    const asMachine = client(machine.certPem, machine.keyPem);
    for (const [method, path] of [['GET', '/v2.1/agents/'], ['DELETE', '/v2.1/agents/d432fbb3-d2f1-4a97-9ef7-75bd81c00000'], ['GET', '/v2.1/allowlists/']] as const) {
      const r = await asMachine.request(method, path);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body?.status).toContain('cannot administer the verifier');
    }
    const admin = readTlsMaterial(caDir, 'client');
    const asAdmin = client(admin.cert, admin.key);
    expect((await asAdmin.get('/v2.1/agents/')).status).toBe(200);
  });
});
