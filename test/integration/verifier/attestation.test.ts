import { execFileSync } from 'node:child_process';
import { X509Certificate, constants, createHash, createHmac, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/client/http.js';
import { silentLogger } from '../../../src/log.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';
import { State } from '../../../src/servers/verifier/states.js';
import { makeTestPki } from '../../support/certs.js';
import { parsePrometheus, promValue } from '../../support/prometheus.js';
import type { Swtpm } from '../../support/swtpm.js';
import {
  adminClient,
  agentStatus,
  enroll,
  freePort,
  newTpm,
  noRetry,
  directEnrollmentBody,
  revocationKeyPair,
  startBlackHole,
  startAgent,
  startStack,
  startWebhook,
  waitFor,
  type Enrolled,
  type Stack,
  type Webhook,
} from './stack.js';

const ID1 = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00001';
const ID2 = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00002';
const QUOTE_INTERVAL_S = 1;
const RETRY = { retryInterval: 1.5, maxRetries: 3, exponentialBackoff: true };

let stack: Stack;
let webhook: Webhook;
let verifier: RunningVerifier;
let admin: HttpClient;
let revocation: { keyPem: string; certPem: string };
let tpm1: Swtpm;
let tpm2: Swtpm;
let agent1: RunningAgent;
let agent2: RunningAgent;
let agent2Port: number;
let enrolled1: Enrolled;

beforeAll(async () => {
  stack = await startStack();
  webhook = await startWebhook();
  revocation = revocationKeyPair(stack.dir);
  verifier = await startVerifier({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(stack.dir, 'verifier'),
    certDir: stack.caDir,
    quoteIntervalSeconds: QUOTE_INTERVAL_S,
    retry: RETRY,
    requestTimeoutMs: 3000,
    revocation: { targets: ['agent', 'webhook'], webhookUrl: webhook.url },
    metricsPort: 0,
    logger: silentLogger,
  });
  admin = adminClient(stack, `https://127.0.0.1:${verifier.port}`);
  [tpm1, tpm2] = await Promise.all([newTpm(stack), newTpm(stack)]);
  agent2Port = await freePort();
  [agent1, agent2] = await Promise.all([
    startAgent(stack.agentOptions(tpm1, ID1)),
    startAgent(stack.agentOptions(tpm2, ID2, { port: agent2Port })),
  ]);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await verifier?.close();
  await agent1?.close();
  await agent2?.close().catch(() => undefined);
  await webhook?.close();
  await stack?.close();
});

const count = async (id: string) => Number((await agentStatus(admin, id)).results.attestation_count);

describe('verifier against real agents on swtpm', () => {
  it('Add -> Get Quote (3), attestation_count rising every quote_interval, V delivered exactly once', async () => {
    const pcr15 = (await agent1.tpm.pcrRead('sha256', [15])).get(15)!.toString('hex');
    // No supported_version: the verifier starts at 2.5, our agent answers "API version not supported", they settle on 2.2.
    enrolled1 = await enroll(stack, admin, agent1, { tpmPolicy: JSON.stringify({ '15': [pcr15], mask: '0x8000' }), revocationKey: revocation.keyPem });
    await waitFor('agent 1 in Get Quote with a first attestation', 15_000, async () => {
      const s = await agentStatus(admin, ID1);
      return s.results.operational_state === State.GET_QUOTE && Number(s.results.attestation_count) >= 1 ? s : undefined;
    });
    expect(verifier.deps.store.get(ID1)!.supported_version).toBe('2.2');

    const c0 = await count(ID1);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 4200));
    const c1 = await count(ID1);
    const elapsed = (Date.now() - t0) / 1000;
    // One quote per interval: 4 (±1 for where the window falls and a loaded machine).
    expect(c1 - c0).toBeGreaterThanOrEqual(Math.floor(elapsed / QUOTE_INTERVAL_S) - 1);
    expect(c1 - c0).toBeLessThanOrEqual(Math.ceil(elapsed / QUOTE_INTERVAL_S) + 1);

    const status = (await agentStatus(admin, ID1)).results;
    expect(status).toMatchObject({ hash_alg: 'sha256', enc_alg: 'rsa', sign_alg: 'rsassa', attestation_status: 'PASS', attestation_period: '1s', last_event_id: null });
    expect(Math.abs(Number(status.last_successful_attestation) - Date.now() / 1000)).toBeLessThan(3);

    // V arrived: the agent combined it with U into K and proves it over /keys/verify.
    const challenge = 'abcdefghij0123456789';
    const verified = await enrolled1.agentApi.get<{ hmac: string }>('/v2.1/keys/verify', { query: { challenge } });
    expect(verified.status, verified.text).toBe(200);
    expect(verified.body!.results.hmac).toBe(createHmac('sha384', enrolled1.k).update(challenge).digest('hex'));
    expect(verifier.deps.metrics.vDeliveries.get()).toBe(1);
  });

  it('a second agent on its own TPM attests too (API 2.2 given by the tenant)', async () => {
    await enroll(stack, admin, agent2, { supportedVersion: '2.2', verifierUrlVersion: '2.2' });
    await waitFor('agent 2 attested twice', 15_000, async () => (await count(ID2)) >= 2);
    expect(verifier.deps.metrics.vDeliveries.get()).toBe(2);
  });

  it('a policy PCR extended in the swtpm -> Invalid Quote with invalid_pcr_15 within quote_interval + 1 s; signed notification to the webhook and the other agent', async () => {
    await agent1.tpm.pcrExtend(15, 'sha256', createHash('sha256').update('an unexpected kernel').digest());
    const t0 = Date.now();
    const status = await waitFor('agent 1 Invalid Quote', 10_000, async () => {
      const s = await agentStatus(admin, ID1);
      return s.results.operational_state === State.INVALID_QUOTE ? s.results : undefined;
    });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThanOrEqual(QUOTE_INTERVAL_S * 1000 + 1000);
    expect(status).toMatchObject({ last_event_id: 'pcr_validation.invalid_pcr_15', severity_level: 6, attestation_status: 'FAIL' });

    const note = await waitFor('revocation at the webhook', 10_000, async () => webhook.received.find((n) => JSON.parse(n.msg).agent_id === ID1));
    const msg = JSON.parse(note.msg);
    expect(Object.keys(msg)).toEqual(['type', 'ip', 'agent_id', 'port', 'tpm_policy', 'meta_data', 'event_time', 'event_id', 'severity_label', 'context']);
    expect(msg).toMatchObject({ type: 'revocation', ip: '127.0.0.1', port: agent1.port, event_id: 'pcr_validation.invalid_pcr_15', severity_label: 'emergency', meta_data: '{"cert_serial": 7, "subject": "test"}' });
    expect(msg.event_time).toMatch(/^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    expect(JSON.parse(msg.context)).toMatchObject({ context: 'PCR value is not in allowlist' });
    const revocationCert = new X509Certificate(revocation.certPem);
    const signatureOk = verify(
      'sha256',
      Buffer.from(note.msg, 'utf8'),
      { key: revocationCert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      Buffer.from(note.signature, 'base64'),
    );
    expect(signatureOk).toBe(true);
    // The same command-line check a webhook owner would run.
    const dir = mkdtempSync(join(tmpdir(), 'kts-sig-'));
    const files = { msg: join(dir, 'msg'), sig: join(dir, 'sig'), cert: join(dir, 'cert.pem'), pub: join(dir, 'pub.pem') };
    writeFileSync(files.msg, note.msg);
    writeFileSync(files.sig, Buffer.from(note.signature, 'base64'));
    writeFileSync(files.cert, revocation.certPem);
    execFileSync('openssl', ['x509', '-in', files.cert, '-pubkey', '-noout', '-out', files.pub]);
    const out = execFileSync('openssl', ['dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-2', '-verify', files.pub, '-signature', files.sig, files.msg]).toString();
    expect(out.trim()).toBe('Verified OK');

    // The other agent of this verifier was told too (POST /notifications/revocation answered 200).
    await waitFor('notification to agent 2', 10_000, async () => verifier.deps.metrics.notifications.get({ type: 'revocation', target: 'agent', outcome: 'delivered' }) >= 1);
    await agent2.idle();
    expect(agent2.lastRevocation).toBeDefined();

    // Polling stopped for agent 1.
    const before = await count(ID1);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await count(ID1)).toBe(before);
  });

  it('agent killed -> retries with backoff -> Failed with not_reachable and a comm_error; reactivate once it is back -> Get Quote', async () => {
    await agent2.close();
    const t0 = Date.now();
    const seen = new Set<number>();
    const failed = await waitFor('agent 2 Failed', 30_000, async () => {
      const s = (await agentStatus(admin, ID2)).results;
      seen.add(Number(s.operational_state));
      return s.operational_state === State.FAILED ? s : undefined;
    });
    const elapsed = (Date.now() - t0) / 1000;
    expect(seen.has(State.GET_QUOTE_RETRY)).toBe(true);
    // 3 retries after 1.5, 2.25 and 3.375 s: the backoff really waited.
    expect(elapsed).toBeGreaterThanOrEqual(1.5 + 2.25 + 3.375);
    expect(failed).toMatchObject({ last_event_id: 'internal.verifier.not_reachable', severity_level: 6 });
    const comm = await waitFor('comm_error at the webhook', 10_000, async () => webhook.received.find((n) => JSON.parse(n.msg).type === 'comm_error'));
    expect(JSON.parse(comm.msg)).toMatchObject({ agent_id: ID2, event_id: 'internal.verifier.not_reachable' });
    expect(comm.signature).toBe(''); // agent 2 was enrolled without a revocation key

    agent2 = await startAgent(stack.agentOptions(tpm2, ID2, { port: agent2Port }));
    const before = await count(ID2);
    const re = await admin.put(`/v2.1/agents/${ID2}/reactivate`, {});
    expect(re.status, re.text).toBe(200);
    await waitFor('agent 2 back in Get Quote and attesting', 15_000, async () => {
      const s = (await agentStatus(admin, ID2)).results;
      return s.operational_state === State.GET_QUOTE && Number(s.attestation_count) >= before + 2 ? s : undefined;
    });
    expect(verifier.deps.metrics.vDeliveries.get()).toBe(3); // V once more after reactivation
  });

  it('DELETE while a request to the agent is in flight -> 202, then 404 once it returns', async () => {
    const hole = await startBlackHole();
    try {
      expect((await admin.post('/v2.1/agents/silent', directEnrollmentBody(hole.port, hole.cert, agent1.akPublic.toString('base64')))).status).toBe(200);
      await waitFor('request in flight', 5000, async () => verifier.machine.inFlight('silent'));
      const del = await admin.delete('/v2.1/agents/silent');
      expect(del.status, del.text).toBe(202);
      expect(del.body).toEqual({ code: 202, status: 'Accepted', results: {} });
      expect((await agentStatus(admin, 'silent')).results.operational_state).toBe(State.TERMINATED);
      expect((await admin.delete('/v2.1/agents/silent')).status).toBe(202);
      await waitFor('404 after the request timed out', 10_000, async () => (await agentStatus(admin, 'silent')).status === 404);
    } finally {
      await hole.close();
    }
  });

  it('bad inputs: unknown id 404, duplicate 409, bad tpm_policy 400, missing mtls_cert 400, wrong client certificate refused', async () => {
    expect((await agentStatus(admin, 'no-such-agent')).status).toBe(404);
    const reg = (await stack.registrarTenant.get<Record<string, unknown>>(`/v2.2/agents/${ID1}`)).body!.results;
    const body = directEnrollmentBody(agent1.port, String(reg.mtls_cert), String(reg.aik_tpm), { v: null });
    const dup = await admin.post(`/v2.1/agents/${ID1}`, body);
    expect([dup.status, dup.body?.status]).toEqual([409, `Agent of uuid ${ID1} already exists. Please use delete or update.`]);
    const badPolicy = await admin.post('/v2.1/agents/new-one', { ...body, tpm_policy: '{"15": ["00"], "mask": ' });
    expect(badPolicy.status).toBe(400);
    expect(badPolicy.body).toMatchObject({ code: 400, results: {} });
    const noCert = await admin.post('/v2.1/agents/new-one', { ...body, mtls_cert: undefined });
    expect([noCert.status, noCert.body?.status]).toEqual([400, 'mTLS certificate for agent is required!']);
    expect((await agentStatus(admin, 'new-one')).status).toBe(404);

    const other = makeTestPki('intruder');
    const origin = `https://127.0.0.1:${verifier.port}`;
    const stranger = new HttpClient(origin, { name: 'verifier', retry: noRetry, tls: { ca: [stack.client.ca], cert: other.clientCert, key: other.clientKey } });
    const anonymous = new HttpClient(origin, { name: 'verifier', retry: noRetry, tls: { ca: [stack.client.ca] } });
    try {
      for (const c of [stranger, anonymous]) {
        const r = await c.get('/v2.1/agents/');
        expect(r.status).toBe(403);
        expect((await c.delete(`/v2.1/agents/${ID1}`)).status).toBe(403);
        expect((await c.get('/metrics')).status).toBe(403);
        expect((await c.get('/version')).status).toBe(200);
      }
      expect((await agentStatus(admin, ID1)).status).toBe(200);
    } finally {
      await stranger.close();
      await anonymous.close();
    }
  });

  it('/metrics parses as Prometheus text and its counters match what happened', async () => {
    expect((await admin.put(`/v2.1/agents/${ID2}/stop`, {})).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const viaAdmin = await admin.get('/metrics');
    expect(viaAdmin.status).toBe(200);
    const plain = await fetch(`http://127.0.0.1:${verifier.metricsPort}/metrics`);
    expect(plain.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const plainText = await plain.text();
    expect((await fetch(`http://127.0.0.1:${verifier.metricsPort}/v2.1/agents/`)).status).toBe(404);

    for (const text of [viaAdmin.text, plainText]) {
      const m = parsePrometheus(text);
      const bulk = (await admin.get<Record<string, Record<string, unknown>>>('/v2.1/agents/?bulk=1')).body!.results;
      const attested = Object.values(bulk).reduce((n, a) => n + Number(a.attestation_count), 0);
      expect(promValue(m, 'keylime_verifier_attestations_total')).toBe(attested);
      expect(promValue(m, 'keylime_verifier_polls_total', { outcome: 'pass' })).toBe(attested);
      expect(promValue(m, 'keylime_verifier_polls_total', { outcome: 'fail' })).toBe(1);
      expect(promValue(m, 'keylime_verifier_failure_events_total', { event_id: 'pcr_validation.invalid_pcr_15' })).toBe(1);
      expect(promValue(m, 'keylime_verifier_failure_events_total', { event_id: 'internal.verifier.not_reachable' })).toBe(1);
      expect(promValue(m, 'keylime_verifier_v_deliveries_total')).toBe(3);
      expect(promValue(m, 'keylime_verifier_agents', { state: String(State.INVALID_QUOTE) })).toBe(1);
      expect(promValue(m, 'keylime_verifier_agents', { state: String(State.TENANT_FAILED) })).toBe(1);
      expect(promValue(m, 'keylime_verifier_agents', { state: String(State.GET_QUOTE) })).toBe(0);
      expect(promValue(m, 'keylime_verifier_revocation_notifications_total', { type: 'revocation', target: 'webhook', outcome: 'delivered' })).toBe(1);
      expect(promValue(m, 'keylime_verifier_revocation_notifications_total', { type: 'comm_error', target: 'webhook', outcome: 'delivered' })).toBe(1);
      const polls = m.samples.filter((s) => s.name === 'keylime_verifier_polls_total').reduce((n, s) => n + s.value, 0);
      expect(promValue(m, 'keylime_verifier_poll_duration_seconds_count')).toBe(polls);
    }
  });
});
