/**
 * Wall time of the tenant's add-agent (registrar lookup, EK check, identity quote, U and a
 * payload to the agent, the verifier POST, key verification and waiting for the first
 * attestation) against our servers and an agent on swtpm, with the tenant's default retry
 * settings. Keylime's tenant takes 1.1-1.4 s.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianMs, type Figure } from './harness.js';
import { initCa, readTlsMaterial } from '../src/crypto/ca.js';
import { CertStore } from '../src/crypto/ek-cert.js';
import { startAgent } from '../src/servers/agent/index.js';
import { startRegistrar } from '../src/servers/registrar/server.js';
import { startVerifier } from '../src/servers/verifier/server.js';
import { addAgent } from '../src/tenant/add-agent.js';
import { TenantContext } from '../src/tenant/context.js';
import { deleteFromVerifier } from '../src/tenant/status.js';
import { startSwtpm } from '../src/tpm/swtpm.js';

const RUNS = 7;

async function addAgentWallTime(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-tenant-'));
  const caDir = join(dir, 'cv_ca');
  await initCa(caDir, { hosts: ['127.0.0.1'] });
  const server = readTlsMaterial(caDir, 'server');
  const tpm = await startSwtpm();
  const storeDir = join(dir, 'store');
  mkdirSync(storeDir);
  cpSync(tpm.caStoreDir, storeDir, { recursive: true });
  const registrar = await startRegistrar({ host: '127.0.0.1', port: 0, tlsPort: 0, dataDir: join(dir, 'registrar'), tls: { cert: server.cert, key: server.key, ca: [server.ca] } });
  const verifier = await startVerifier({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'verifier'), certDir: caDir, quoteIntervalSeconds: 1 });
  const agent = await startAgent({
    uuid: 'bench-tenant-agent',
    dataDir: join(dir, 'agent'),
    port: 0,
    registrar: `127.0.0.1:${registrar.port}`,
    tcti: tpm.tcti,
    trustedClientCa: join(caDir, 'cacert.crt'),
    imaLog: null,
    eventLog: null,
  });
  const ctx = new TenantContext({
    registrar: { host: '127.0.0.1', port: registrar.tlsPort },
    verifier: { host: '127.0.0.1', port: verifier.port },
    tls: readTlsMaterial(caDir, 'client'),
  });
  const certStore = await CertStore.load(storeDir);
  try {
    return await medianMs(async () => {
      await addAgent(ctx, {
        agentId: agent.agentId,
        certStore,
        requireEkCert: true,
        payload: { kind: 'file', data: Buffer.from('benchmark payload') },
        verify: true,
        wait: true,
        timeoutSeconds: 30,
      });
      await deleteFromVerifier(ctx, agent.agentId);
    }, RUNS);
  } finally {
    await ctx.close();
    await agent.close();
    await verifier.close();
    await registrar.close();
    await tpm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const figures: Figure[] = [{ name: 'tenant.add_agent', unit: 'ms', run: addAgentWallTime }];
