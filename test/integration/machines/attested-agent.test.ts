/**
 * The attestation gate with a real verifier polling a real agent on swtpm: an sshkey
 * token bound to the agent is handed to the machine while it attests; extending a policy
 * PCR makes the very same call answer 403 with pcr_validation.invalid_pcr_15; after an
 * orderly TPM reboot (the PCR is back to its reference value) and a reactivate, it is
 * granted again.
 *
 * The machine API listens next to the verifier in the same process, over the verifier's
 * own store (agents and attestation state), exactly the deps the verifier passes when it
 * mounts registerMachineApi on its app.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import { issueCertificate, readTlsMaterial } from '../../../src/crypto/ca.js';
import { KeylimeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';
import { createServer, listen } from '../../../src/servers/http/server.js';
import { MachineApiClient } from '../../../src/client/machines.js';
import { agentAttestation, registerMachineApi } from '../../../src/servers/machines/index.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';
import { State } from '../../../src/servers/verifier/states.js';
import type { Swtpm } from '../../support/swtpm.js';
import { adminClient, agentStatus, enroll, newTpm, startAgent, startStack, waitFor, type Stack } from '../verifier/stack.js';
import { SSH_KEY } from '../../unit/machines-server/harness.js';

const ID = 'd432fbb3-d2f1-4a97-9ef7-75bd81c0aa01';

let stack: Stack;
let verifier: RunningVerifier;
let tpm: Swtpm;
let agent: RunningAgent;
let keylime: HttpClient;
let machineApi: FastifyInstance;
let admin: MachineApiClient;
let machine: MachineApiClient;

async function attested(minCount: number): Promise<void> {
  await waitFor(`agent in Get Quote with attestation_count >= ${minCount}`, 20_000, async () => {
    const s = await agentStatus(keylime, ID);
    return s.results.operational_state === State.GET_QUOTE && Number(s.results.attestation_count) >= minCount;
  });
}

beforeAll(async () => {
  stack = await startStack();
  verifier = await startVerifier({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(stack.dir, 'verifier'),
    certDir: stack.caDir,
    quoteIntervalSeconds: 1,
    retry: { retryInterval: 1, maxRetries: 3, exponentialBackoff: false },
    requestTimeoutMs: 5000,
    logger: silentLogger,
  });
  keylime = adminClient(stack, `https://127.0.0.1:${verifier.port}`);
  tpm = await newTpm(stack);
  agent = await startAgent(stack.agentOptions(tpm, ID));

  const store = verifier.deps.store;
  const server = readTlsMaterial(stack.caDir, 'server');
  machineApi = createServer({
    name: 'machine-api',
    tls: { cert: server.cert, key: server.key, ca: [server.ca], clientAuth: 'optional' },
    versions: ['2.0'],
    versionInfo: () => ({}),
    routes: () => undefined,
    rootRoutes: (app) =>
      registerMachineApi(app, {
        dataDir: join(stack.dir, 'machines'),
        agents: { list: () => store.all(), get: (id) => store.get(id) },
        attestation: (id) => agentAttestation(store.get(id)),
        log: silentLogger,
      }),
  });
  const port = await listen(machineApi, '127.0.0.1', 0);
  await issueCertificate(stack.caDir, { kind: 'client', name: ID });
  const own = readTlsMaterial(stack.caDir, ID);
  admin = new MachineApiClient(`https://127.0.0.1:${port}`, { tls: { ca: [stack.client.ca], cert: stack.client.cert, key: stack.client.key } });
  machine = new MachineApiClient(`https://127.0.0.1:${port}`, { tls: { ca: [own.ca], cert: own.cert, key: own.key } });
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await machine?.close();
  await machineApi?.close();
  await keylime?.close();
  await verifier?.close();
  await agent?.close();
  await stack?.close();
});

describe('ssh keys gated by real attestation', () => {
  it('grants, refuses with the PCR event after tampering, and grants again after an orderly TPM reboot and reactivate', async () => {
    const pcr15 = (await agent.tpm.pcrRead('sha256', [15])).get(15)!.toString('hex');
    await enroll(stack, keylime, agent, { tpmPolicy: JSON.stringify({ '15': [pcr15], mask: '0x8000' }) });
    await attested(1);

    await admin.initToken({ type: 'sshkey', sshkey: SSH_KEY, serial: 'SSH-AGENT' });
    // The agent registered no hostname: its id names the machine in the keylime resolver.
    expect(await admin.listMachines({ resolver: 'keylime' })).toEqual([{ hostname: [ID], ip: '127.0.0.1', resolver_name: 'keylime', id: ID }]);
    await admin.attachToken({ serial: 'SSH-AGENT', application: 'ssh', hostname: ID, user: 'root' });
    expect(await machine.authItems({ hostname: ID }, 'ssh')).toEqual({ ssh: [{ sshkey: SSH_KEY, user: 'root', serial: null }] });

    await agent.tpm.pcrExtend(15, 'sha256', createHash('sha256').update('an unexpected kernel').digest());
    await waitFor('Invalid Quote', 15_000, async () => (await agentStatus(keylime, ID)).results.operational_state === State.INVALID_QUOTE);
    const refused = await machine.authItems({ hostname: ID }, 'ssh').then(
      () => undefined,
      (e: KeylimeError) => e,
    );
    expect(refused).toBeInstanceOf(KeylimeError);
    expect(refused!.code).toBe('verification');
    expect(refused!.details).toMatchObject({ status: 403, code: 303, detail: { event_id: 'pcr_validation.invalid_pcr_15', status: 'Invalid Quote', machine_id: ID } });

    // An orderly reboot of the TPM (Shutdown, init, Startup(CLEAR): the clock stays safe) puts
    // PCR 15 back to its reference value; then the tenant reactivates the agent.
    execFileSync('tpm2_shutdown', ['-c'], { env: tpm.env, stdio: 'ignore' });
    execFileSync('swtpm_ioctl', ['--tcp', `127.0.0.1:${tpm.ctrlPort}`, '-i'], { stdio: 'ignore' });
    execFileSync('tpm2_startup', ['-c'], { env: tpm.env, stdio: 'ignore' });
    expect((await agent.tpm.pcrRead('sha256', [15])).get(15)!.toString('hex')).toBe(pcr15);
    const count = Number((await agentStatus(keylime, ID)).results.attestation_count);
    const re = await keylime.put(`/v2.1/agents/${ID}/reactivate`, {});
    expect(re.status, re.text).toBe(200);
    await attested(count + 1);
    expect((await machine.authItems({ hostname: ID }, 'ssh')).ssh).toEqual([{ sshkey: SSH_KEY, user: 'root', serial: null }]);
  });
});
