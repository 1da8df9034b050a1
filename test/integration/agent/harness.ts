/**
 * A real enrollment setting for agent tests: a fresh swtpm, our registrar on free ports,
 * a throw-away PKI whose CA the agent trusts for clients, and mTLS clients acting as the
 * tenant/verifier (trusting the agent's self-signed certificate) and as the registrar's tenant.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient } from '../../../src/client/http.js';
import { startAgent, type AgentOptions, type RunningAgent } from '../../../src/servers/agent/index.js';
import { startRegistrar, type RunningRegistrar } from '../../../src/servers/registrar/server.js';
import { makeTestPki, type TestPki } from '../../support/certs.js';
import { startSwtpm, type Swtpm, type SwtpmOptions } from '../../support/swtpm.js';

export const noRetry = { retryInterval: 0, maxRetries: 0, exponentialBackoff: false };

export interface AgentHarness {
  tpm: Swtpm;
  pki: TestPki;
  registrar: RunningRegistrar;
  /** The registrar's mTLS port, as the tenant reads it. */
  registrarTenant: HttpClient;
  dir: string;
  caFile: string;
  /** Options for startAgent pointing at this TPM, registrar and CA; tests add or override. */
  agentOptions(extra?: Partial<AgentOptions>): AgentOptions;
  /** An mTLS client for a running agent, with the test PKI's client certificate. */
  clientFor(agent: RunningAgent, tls?: { cert: string; key: string }): HttpClient;
  close(): Promise<void>;
}

export async function startHarness(opts: { swtpm?: SwtpmOptions } = {}): Promise<AgentHarness> {
  const pki = makeTestPki('agent-test');
  const dir = mkdtempSync(join(tmpdir(), 'kts-agent-'));
  const caFile = join(dir, 'client-ca.crt');
  writeFileSync(caFile, pki.ca);
  const tpm = await startSwtpm(opts.swtpm);
  const registrar = await startRegistrar({
    host: '127.0.0.1',
    port: 0,
    tlsPort: 0,
    dataDir: join(dir, 'registrar'),
    tls: { cert: pki.serverCert, key: pki.serverKey, ca: [pki.ca] },
    tpmCertStore: tpm.caStoreDir,
  });
  const registrarTenant = new HttpClient(`https://127.0.0.1:${registrar.tlsPort}`, {
    name: 'registrar',
    retry: noRetry,
    tls: { ca: [pki.ca], cert: pki.clientCert, key: pki.clientKey },
  });
  const clients: HttpClient[] = [];
  return {
    tpm,
    pki,
    registrar,
    registrarTenant,
    dir,
    caFile,
    agentOptions(extra = {}) {
      return {
        uuid: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000',
        dataDir: join(dir, 'agent'),
        host: '127.0.0.1',
        port: 0,
        registrar: `127.0.0.1:${registrar.port}`,
        tcti: tpm.tcti,
        trustedClientCa: caFile,
        imaLog: null,
        eventLog: null,
        registrationBackoff: { initialDelayMs: 10, maxRetries: 2, maxDelayMs: 50 },
        ...extra,
      };
    },
    clientFor(agent, tls = { cert: pki.clientCert, key: pki.clientKey }) {
      const client = new HttpClient(`https://127.0.0.1:${agent.port}`, {
        name: 'agent',
        retry: noRetry,
        tls: { ca: [agent.mtlsCertPem], ...tls },
      });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await registrarTenant.close();
      await registrar.close();
      await tpm.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
