/**
 * The agent as a verifier sees it: median latency of GET /quotes/integrity over HTTPS with
 * mutual TLS (keep-alive, as the verifier polls), on swtpm, 11 PCRs (mask 0x7ff) + PCR 16,
 * with a small IMA list served incrementally. Keylime's Python agent takes about 40 ms here.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianMs, type Figure } from './harness.js';
import { HttpClient } from '../src/client/http.js';
import { startAgent } from '../src/servers/agent/index.js';
import { startRegistrar } from '../src/servers/registrar/server.js';
import { makeTestPki } from '../test/support/certs.js';
import { startSwtpm } from '../test/support/swtpm.js';

const REQUESTS = 60;

async function integrityQuoteLatency(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-agent-'));
  const pki = makeTestPki('bench');
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, pki.ca);
  const imaLog = join(dir, 'ascii_runtime_measurements');
  writeFileSync(imaLog, Array.from({ length: 3 }, (_, i) => `10 ${'0'.repeat(40)} ima-ng sha256:${'ab'.repeat(32)} /bin/f${i}\n`).join(''));
  const tpm = await startSwtpm({ ekCert: false });
  const registrar = await startRegistrar({
    host: '127.0.0.1',
    port: 0,
    tlsPort: 0,
    dataDir: join(dir, 'registrar'),
    tls: { cert: pki.serverCert, key: pki.serverKey, ca: [pki.ca] },
  });
  const agent = await startAgent({
    uuid: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000',
    dataDir: join(dir, 'agent'),
    port: 0,
    registrar: `127.0.0.1:${registrar.port}`,
    tcti: tpm.tcti,
    trustedClientCa: caFile,
    imaLog,
    eventLog: null,
  });
  const client = new HttpClient(`https://127.0.0.1:${agent.port}`, {
    name: 'agent',
    connections: 1,
    retry: { retryInterval: 0, maxRetries: 0, exponentialBackoff: false },
    tls: { ca: [agent.mtlsCertPem], cert: pki.clientCert, key: pki.clientKey },
  });
  let entry = 0;
  const poll = async () => {
    const r = await client.get<{ ima_measurement_list_entry?: number; ima_measurement_list?: string }>('/v2.2/quotes/integrity', {
      query: { nonce: randomBytes(10).toString('hex'), mask: '0x7ff', partial: '1', ima_ml_entry: entry },
    });
    if (r.status !== 200) throw new Error(`integrity quote failed: ${r.text}`);
    const res = r.body!.results;
    entry = (res.ima_measurement_list_entry ?? 0) + (res.ima_measurement_list?.split('\n').length ?? 1) - 1;
  };
  try {
    for (let i = 0; i < 5; i++) await poll();
    return await medianMs(poll, REQUESTS);
  } finally {
    await client.close();
    await agent.close();
    await registrar.close();
    await tpm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const figures: Figure[] = [{ name: 'agent.quote.integrity', unit: 'ms', run: integrityQuoteLatency }];
