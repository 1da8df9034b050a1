import { beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildVerifierApp } from '../../../src/servers/verifier/server.js';
import { State } from '../../../src/servers/verifier/states.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { enrollmentBody, makeHarness, type Harness } from './harness.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const REAL_POLICY = JSON.stringify({
  meta: { version: 1, generator: 3 },
  release: 0,
  digests: { '/usr/bin/bash': ['a'.repeat(64)] },
  excludes: [],
  keyrings: {},
  ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
  'ima-buf': {},
  'verification-keys': '',
});
const EMPTY_POLICY = JSON.stringify({ ...JSON.parse(REAL_POLICY), meta: { version: 1, generator: 1 }, digests: {} });

let h: Harness;
let app: FastifyInstance;
const agentA = new SoftAgent('agent-a');
const agentB = new SoftAgent('agent-b');

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) {
  const r = await app.inject({ method, url, payload: payload === undefined ? undefined : JSON.stringify(payload), headers: payload === undefined ? {} : { 'content-type': 'application/json' } });
  return { status: r.statusCode, body: r.body.length ? JSON.parse(r.body) : undefined, raw: r.body };
}

beforeEach(async () => {
  h = await makeHarness();
  h.api.agents.set(agentA.id, agentA);
  h.api.agents.set(agentB.id, agentB);
  app = buildVerifierApp(h.deps, undefined);
  await app.ready();
});

describe('agents', () => {
  it('POST then GET: envelope, status fields of §7.3, state by number', async () => {
    const r = await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA));
    expect(r).toMatchObject({ status: 200, body: { code: 200, status: 'Success', results: {} } });
    await h.settle();
    const g = await call('GET', '/v2.1/agents/agent-a');
    expect(g.status).toBe(200);
    expect(Object.keys(g.body.results).sort()).toEqual(
      [
        'operational_state', 'v', 'ip', 'port', 'tpm_policy', 'meta_data', 'has_mb_refstate', 'has_runtime_policy',
        'accept_tpm_hash_algs', 'accept_tpm_encryption_algs', 'accept_tpm_signing_algs', 'hash_alg', 'enc_alg', 'sign_alg',
        'verifier_id', 'verifier_ip', 'verifier_port', 'severity_level', 'last_event_id', 'attestation_count',
        'last_received_quote', 'last_successful_attestation', 'attestation_status', 'attestation_period', 'maximum_attestation_interval',
      ].sort(),
    );
    expect(g.body.results).toMatchObject({
      operational_state: State.GET_QUOTE,
      ip: '127.0.0.1',
      port: 9002,
      tpm_policy: '{"mask": "0x0"}',
      meta_data: '{}',
      has_mb_refstate: 0,
      has_runtime_policy: 0,
      verifier_id: 'default',
      verifier_ip: '127.0.0.1',
      verifier_port: 8881,
      severity_level: null,
      last_event_id: null,
      attestation_count: 1,
      attestation_status: 'PASS',
      attestation_period: '2s',
      maximum_attestation_interval: '10s',
      hash_alg: 'sha256',
    });
  });

  it('duplicate 409, unknown 404, bad input 400 with the field named', async () => {
    await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA));
    expect(await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA))).toMatchObject({
      status: 409,
      body: { code: 409, status: 'Agent of uuid agent-a already exists. Please use delete or update.', results: {} },
    });
    expect(await call('GET', '/v2.1/agents/nobody')).toMatchObject({ status: 404, body: { status: 'agent id not found' } });
    expect(await call('DELETE', '/v2.1/agents/nobody')).toMatchObject({ status: 404 });
    expect(await call('PUT', '/v2.1/agents/nobody/reactivate')).toMatchObject({ status: 400, body: { status: 'Exception error: No row was found when one was required' } });

    const bad = async (extra: Record<string, unknown>) => (await call('POST', '/v2.1/agents/agent-b', enrollmentBody(agentB, extra))).body;
    expect(await bad({ tpm_policy: '{"mask": "0x0"' })).toMatchObject({ code: 400, status: expect.stringContaining("Field 'tpm_policy' is not valid") });
    expect(await bad({ tpm_policy: '{"15": ["00"]}' })).toMatchObject({ code: 400, status: expect.stringContaining('no "mask"') });
    expect(await bad({ tpm_policy: '{"15": ["00"], "mask": "0x1"}' })).toMatchObject({ code: 400, status: expect.stringContaining('does not select it') });
    expect(await bad({ tpm_policy: '{"16": ["00"], "mask": "0x10000"}' })).toMatchObject({ code: 400 });
    expect(await bad({ mtls_cert: undefined })).toMatchObject({ code: 400, status: 'mTLS certificate for agent is required!' });
    expect(await bad({ mtls_cert: 'disabled' })).toMatchObject({ code: 400, status: 'mTLS certificate for agent is required!' });
    expect(await bad({ mtls_cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })).toMatchObject({ code: 400 });
    expect(await bad({ ak_tpm: undefined })).toMatchObject({ code: 400, status: expect.stringContaining('ak_tpm') });
    expect(await bad({ ak_tpm: b64('not a tpm2b') })).toMatchObject({ code: 400, status: expect.stringContaining('ak_tpm') });
    expect(await bad({ v: b64('short') })).toMatchObject({ code: 400, status: expect.stringContaining("'v'") });
    expect(await bad({ cloudagent_ip: undefined })).toMatchObject({ code: 400, status: expect.stringContaining('cloudagent_ip') });
    expect(await bad({ cloudagent_port: 'x' })).toMatchObject({ code: 400 });
    expect(await bad({ revocation_key: 'not a key' })).toMatchObject({ code: 400, status: expect.stringContaining('revocation_key') });
    expect(await bad({ accept_tpm_hash_algs: 'sha256' })).toMatchObject({ code: 400 });
    expect((await call('POST', '/v2.1/agents/bad%20id', enrollmentBody(agentB))).status).toBe(400);
    expect(await call('POST', '/v2.1/agents/agent-b')).toMatchObject({ status: 400, body: { status: 'Expected non zero content length' } });
    expect(h.store.get('agent-b')).toBeUndefined();
  });

  it('accepts what tenants from Keylime 6.4 to today send', async () => {
    // 6.4: allowlist (JSON text) + mb_refstate "null", no v/ak... (ak_tpm and mtls_cert since 2.1)
    const old = enrollmentBody(agentA, { allowlist: '', mb_refstate: 'null', runtime_policy: undefined, mb_policy: undefined, mb_policy_name: undefined, supported_version: undefined, v: undefined });
    expect((await call('POST', '/v2.0/agents/agent-a', old)).status).toBe(200);
    // 7.14+: no verifier_ip/port, cloudagent_port as a string, unknown extra keys, supported_version 2.6 (replaced)
    const now = enrollmentBody(agentB, { verifier_ip: undefined, verifier_port: undefined, cloudagent_port: '9002', supported_version: '2.6', something_new: 1 });
    expect((await call('POST', '/v2.5/agents/agent-b', now)).status).toBe(200);
    await h.settle();
    expect(h.store.get('agent-b')).toMatchObject({ port: 9002, supported_version: '2.5', verifier_port: 8881 });
    expect(h.store.get('agent-a')).toMatchObject({ v: null, runtime_policy_name: 'agent-a', mb_policy_name: null });
  });

  it('refuses runtime and measured-boot policies while no evaluator is wired, leaving nothing behind', async () => {
    const withPolicy = enrollmentBody(agentA, { runtime_policy: b64(REAL_POLICY), tpm_policy: '{"mask": "0x400"}' });
    const r = await call('POST', '/v2.1/agents/agent-a', withPolicy);
    expect(r).toMatchObject({ status: 400, body: { status: expect.stringContaining('runtime (IMA) policy evaluator') } });
    expect(h.store.runtimePolicy('agent-a')).toBeUndefined();
    expect((await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA, { tpm_policy: '{"mask": "0x400"}' }))).status).toBe(400);
    expect(
      (await call('POST', '/v2.3/agents/agent-a', enrollmentBody(agentA, { mb_policy: '{"settings": {}}', mb_policy_name: '' }))).body.status,
    ).toContain('measured boot');
    expect((await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA, { runtime_policy: b64(EMPTY_POLICY) }))).status).toBe(200);
  });

  it('GET /agents/ lists one-element lists; bulk gives statuses; ?verifier= filters', async () => {
    await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA));
    await call('POST', '/v2.1/agents/agent-b', enrollmentBody(agentB));
    await h.settle();
    expect((await call('GET', '/v2.1/agents/')).body.results).toEqual({ uuids: [['agent-a'], ['agent-b']] });
    expect((await call('GET', '/v2.1/agents/?verifier=other')).body.results).toEqual({ uuids: [] });
    const bulk = (await call('GET', '/v2.1/agents/?bulk=1&verifier=default')).body.results;
    expect(Object.keys(bulk)).toEqual(['agent-a', 'agent-b']);
    expect(bulk['agent-a'].operational_state).toBe(3);
  });

  it('DELETE 200 then 404; stop and reactivate answer 200 {}', async () => {
    await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA));
    await h.settle();
    expect(await call('PUT', '/v2.1/agents/agent-a/stop')).toMatchObject({ status: 200, body: { results: {} } });
    expect(h.store.get('agent-a')!.operational_state).toBe(State.TENANT_FAILED);
    expect((await call('PUT', '/v2.1/agents/agent-a/reactivate', {})).status).toBe(200);
    await h.settle();
    expect(h.store.get('agent-a')!.operational_state).toBe(State.GET_QUOTE);
    expect(await call('DELETE', '/v2.1/agents/agent-a')).toMatchObject({ status: 200, body: { code: 200, results: {} } });
    expect((await call('GET', '/v2.1/agents/agent-a')).status).toBe(404);
  });

  it('DELETE of an agent of another verifier is refused', async () => {
    await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA));
    await h.store.patch('agent-a', (a) => void (a.verifier_id = 'vb'));
    expect(await call('DELETE', '/v2.1/agents/agent-a')).toMatchObject({ status: 404, body: { status: 'agent id associated to this verifier' } });
  });

  it('takes bodies above 1 MiB (Keylime max_upload_size is 100 MiB)', async () => {
    const big = enrollmentBody(agentA, { metadata: JSON.stringify({ pad: 'x'.repeat(3 * 1024 * 1024) }) });
    expect((await call('POST', '/v2.1/agents/agent-a', big)).status).toBe(200);
  });
});

describe('runtime policies (/allowlists)', () => {
  it('201 on create and update, 409 duplicate, 404 update of missing, list, get, 204 empty delete, 409 in use', async () => {
    const body = { runtime_policy: b64(REAL_POLICY), tpm_policy: '{"mask": "0x0"}' };
    const created = await call('POST', '/v2.1/allowlists/base', body);
    expect(created).toMatchObject({ status: 201, body: { code: 201, status: 'Created', results: {} } });
    expect(await call('POST', '/v2.1/allowlists/base', body)).toMatchObject({ status: 409, body: { status: 'Runtime policy with name base already exists' } });
    expect((await call('PUT', '/v2.1/allowlists/base', body)).status).toBe(201);
    expect(await call('PUT', '/v2.1/allowlists/none', body)).toMatchObject({
      status: 404,
      body: { status: 'Runtime policy with name none does not already exist, use POST to create' },
    });
    expect((await call('GET', '/v2.1/allowlists/')).body.results).toEqual({ 'runtimepolicy names': ['base'] });
    expect((await call('GET', '/v2.1/allowlists/base')).body.results).toEqual({ name: 'base', tmp_policy: null, tpm_policy: '{"mask": "0x0"}', runtime_policy: REAL_POLICY });
    expect((await call('GET', '/v2.1/allowlists/none')).status).toBe(404);
    expect((await call('POST', '/v2.1/allowlists/bad', { runtime_policy: b64('{"meta": 1}') })).status).toBe(400);
    expect((await call('POST', '/v2.1/allowlists/bad', {})).status).toBe(400);

    await call('POST', '/v2.1/allowlists/empty', { runtime_policy: b64(EMPTY_POLICY) });
    expect((await call('POST', '/v2.1/agents/agent-a', enrollmentBody(agentA, { runtime_policy_name: 'empty' }))).status).toBe(200);
    expect((await call('POST', '/v2.1/agents/agent-b', enrollmentBody(agentB, { runtime_policy_name: 'missing' }))).body).toMatchObject({
      code: 404,
      status: 'Could not find IMA policy with name missing!',
    });
    expect((await call('POST', '/v2.1/agents/agent-b', enrollmentBody(agentB, { runtime_policy_name: 'empty', runtime_policy: b64(EMPTY_POLICY) }))).status).toBe(409);
    expect((await call('DELETE', '/v2.1/allowlists/empty')).body).toMatchObject({ code: 409, status: "Can't delete allowlist as it's currently in use by agent agent-a" });
    // An update that would need IMA evaluation for an agent using it is refused too.
    expect((await call('PUT', '/v2.1/allowlists/empty', { runtime_policy: b64(REAL_POLICY) })).status).toBe(400);

    const del = await call('DELETE', '/v2.1/allowlists/base');
    expect(del.status).toBe(204);
    expect(del.raw).toBe('');
    expect((await call('DELETE', '/v2.1/allowlists/base')).status).toBe(404);
  });
});

describe('measured-boot policies (/mbpolicies, 2.3+)', () => {
  it('exists from 2.3 with the same codes', async () => {
    expect((await call('GET', '/v2.2/mbpolicies/')).status).toBe(404);
    expect((await call('POST', '/v2.3/mbpolicies/laptop', { mb_policy: '{"settings": {}}' })).status).toBe(201);
    expect((await call('POST', '/v2.3/mbpolicies/laptop', { mb_policy: '{}' })).status).toBe(409);
    expect((await call('PUT', '/v2.3/mbpolicies/laptop', { mb_policy: null })).status).toBe(201);
    expect((await call('GET', '/v2.3/mbpolicies')).body.results).toEqual({ 'mbpolicy names': ['laptop'] });
    expect((await call('GET', '/v2.3/mbpolicies/laptop')).body.results).toEqual({ name: 'laptop', mb_policy: null });
    expect((await call('PUT', '/v2.3/mbpolicies/nope', { mb_policy: null })).status).toBe(404);
    expect((await call('POST', '/v2.3/mbpolicies/x', { mb_policy: '{not json' })).status).toBe(400);
    const del = await call('DELETE', '/v2.5/mbpolicies/laptop');
    expect([del.status, del.raw]).toEqual([204, '']);
  });
});

describe('verify/identity (2.2+), versions, health, metrics', () => {
  it('checks the AK signature, nonce and digest of a quote', async () => {
    await call('POST', '/v2.2/agents/agent-a', enrollmentBody(agentA));
    const results = agentA.integrity({ nonce: 'identitynonce1234567', mask: '0x0', partial: 0 });
    const q = (nonce: string) => `/v2.2/verify/identity?agent_uuid=agent-a&quote=${encodeURIComponent(results.quote as string)}&nonce=${nonce}&hash_alg=sha256`;
    expect((await call('GET', q('identitynonce1234567'))).body.results).toEqual({ valid: 1 });
    const wrong = (await call('GET', q('othernonce0000000000'))).body.results;
    expect(wrong.valid).toBe(0);
    expect(wrong.reason).toContain('nonce');
    expect((await call('GET', '/v2.2/verify/identity?agent_uuid=agent-a&nonce=x&hash_alg=sha256')).body).toMatchObject({ code: 400, status: "missing query parameter 'quote'" });
    expect((await call('GET', '/v2.1/verify/identity?agent_uuid=agent-a')).status).toBe(404);
  });

  it('/version and /versions list 2.0..2.5; unknown versions are refused; /healthz; /metrics is Prometheus text', async () => {
    const v = await call('GET', '/version');
    expect(v.body.results).toEqual({ current_version: '2.5', supported_versions: ['2.0', '2.1', '2.2', '2.3', '2.4', '2.5'] });
    expect((await call('GET', '/versions')).body.results).toEqual(v.body.results);
    expect((await call('GET', '/v9.9/agents/')).status).toBe(400);
    expect((await call('GET', '/healthz')).body.results).toEqual({ status: 'ok', agents: 0 });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(m.body).toContain('# TYPE keylime_verifier_agents gauge');
  });
});
