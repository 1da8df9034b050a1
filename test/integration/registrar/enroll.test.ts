import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/client/http.js';
import { startRegistrar, type RunningRegistrar } from '../../../src/servers/registrar/server.js';
import { makeTestPki, type TestPki } from '../../support/certs.js';
import { activationTag, createIdentity, type ManualIdentity } from '../../support/manual-agent.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';

const noRetry = { retryInterval: 0, maxRetries: 0, exponentialBackoff: false };

interface Harness {
  registrar: RunningRegistrar;
  agentApi: HttpClient;
  tenantApi: HttpClient;
  dataDir: string;
  close(): Promise<void>;
}

async function startHarness(pki: TestPki, opts: { certStore?: string; requireEkCert?: boolean; dataDir?: string } = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kts-reg-'));
  const registrar = await startRegistrar({
    host: '127.0.0.1',
    port: 0,
    tlsPort: 0,
    dataDir,
    tls: { cert: pki.serverCert, key: pki.serverKey, ca: [pki.ca] },
    tpmCertStore: opts.certStore,
    requireEkCert: opts.requireEkCert,
  });
  const agentApi = new HttpClient(`http://127.0.0.1:${registrar.port}`, { name: 'registrar', retry: noRetry });
  const tenantApi = new HttpClient(`https://127.0.0.1:${registrar.tlsPort}`, {
    name: 'registrar',
    retry: noRetry,
    tls: { ca: [pki.ca], cert: pki.clientCert, key: pki.clientKey },
  });
  return {
    registrar,
    agentApi,
    tenantApi,
    dataDir,
    async close() {
      await Promise.all([agentApi.close(), tenantApi.close()]);
      await registrar.close();
    },
  };
}

function registrationBody(id: ManualIdentity, extra: Record<string, unknown> = {}) {
  return {
    aik_tpm: id.akTpm.toString('base64'),
    ek_tpm: id.ekTpm.toString('base64'),
    ekcert: id.ekCertDer ? id.ekCertDer.toString('base64') : null,
    mtls_cert: 'disabled',
    ip: '127.0.0.1',
    port: 9002,
    ...extra,
  };
}

async function enroll(h: Harness, agentId: string, id: ManualIdentity, extra: Record<string, unknown> = {}) {
  const reg = await h.agentApi.post<{ blob: string }>(`/v2.1/agents/${agentId}`, registrationBody(id, extra));
  expect(reg.status, reg.text).toBe(200);
  const secret = id.activate(Buffer.from(reg.body!.results.blob, 'base64'));
  const act = await h.agentApi.put(`/v2.1/agents/${agentId}`, { auth_tag: activationTag(secret, agentId) });
  return { reg, act, secret };
}

describe('registrar enrollment with a real TPM (swtpm + tpm2-tools by hand)', () => {
  const pki = makeTestPki('registrar');
  let tpm: Swtpm;
  let tpm2nd: Swtpm;
  let rsa: ManualIdentity;
  let ecc: ManualIdentity;
  let other: ManualIdentity;
  let h: Harness;

  beforeAll(async () => {
    [tpm, tpm2nd] = await Promise.all([startSwtpm(), startSwtpm()]);
    rsa = createIdentity(tpm, 'rsa');
    ecc = createIdentity(tpm, 'ecc');
    other = createIdentity(tpm2nd, 'rsa');
    h = await startHarness(pki, { certStore: tpm.caStoreDir });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([tpm?.stop(), tpm2nd?.stop()]);
  });

  it('enrolls an RSA-EK agent: challenge activated, GET shows the fields, list shows it, delete removes it', async () => {
    const { act } = await enroll(h, 'agent-rsa', rsa);
    expect(act.status, act.text).toBe(200);
    const got = await h.tenantApi.get<Record<string, unknown>>('/v2.1/agents/agent-rsa');
    expect(got.status).toBe(200);
    expect(got.body!.results).toMatchObject({
      aik_tpm: rsa.akTpm.toString('base64'),
      ek_tpm: rsa.ekTpm.toString('base64'),
      ekcert: rsa.ekCertDer!.toString('base64'),
      mtls_cert: 'disabled',
      ip: '127.0.0.1',
      port: 9002,
      regcount: 1,
      ek_cert_status: 'verified',
    });
    const list = await h.tenantApi.get<{ uuids: string[] }>('/v2.5/agents/');
    expect(list.body!.results.uuids).toContain('agent-rsa');
    expect((await h.tenantApi.delete('/v2.1/agents/agent-rsa')).status).toBe(200);
    expect((await h.tenantApi.get('/v2.1/agents/agent-rsa')).status).toBe(404);
  });

  it('enrolls an ECC P-256 EK agent (no EK certificate: stored as absent)', async () => {
    const { act } = await enroll(h, 'agent-ecc', ecc);
    expect(act.status, act.text).toBe(200);
    const got = await h.tenantApi.get<Record<string, unknown>>('/v2.1/agents/agent-ecc');
    expect(got.body!.results).toMatchObject({ ekcert: null, ek_cert_status: 'absent', regcount: 1 });
  });

  it('GET answers 404 until the agent is activated', async () => {
    const reg = await h.agentApi.post('/v2.1/agents/pending', registrationBody(rsa));
    expect(reg.status).toBe(200);
    const got = await h.tenantApi.get('/v2.1/agents/pending');
    expect(got.status).toBe(404);
    expect(got.body!.status).toBe("Agent with ID 'pending' has not been activated");
  });

  it('a wrong auth_tag answers 400 and deletes the record', async () => {
    const reg = await h.agentApi.post('/v2.1/agents/wrongtag', registrationBody(rsa));
    expect(reg.status).toBe(200);
    const act = await h.agentApi.put('/v2.1/agents/wrongtag/activate', { auth_tag: 'ab'.repeat(48) });
    expect(act.status).toBe(400);
    expect(act.body!.status).toContain('has been deleted');
    const again = await h.agentApi.put('/v2.1/agents/wrongtag/activate', { auth_tag: 'ab'.repeat(48) });
    expect(again.status).toBe(404);
  });

  it('re-registration of the same TPM increments regcount; another TPM under the same id is refused', async () => {
    await enroll(h, 'rereg', rsa);
    const second = await enroll(h, 'rereg', rsa);
    expect(second.act.status).toBe(200);
    const got = await h.tenantApi.get<{ regcount: number }>('/v2.1/agents/rereg');
    expect(got.body!.results.regcount).toBe(2);
    const hijack = await h.agentApi.post('/v2.1/agents/rereg', registrationBody(other));
    expect(hijack.status).toBe(403);
    expect(hijack.body!.status).toBe('Agent re-registration with different TPM identity is forbidden for security reasons');
    const still = await h.tenantApi.get<{ aik_tpm: string; regcount: number }>('/v2.1/agents/rereg');
    expect(still.body!.results).toMatchObject({ aik_tpm: rsa.akTpm.toString('base64'), regcount: 2 });
  });

  it('the TLS listener refuses clients without our client certificate; the plain listener refuses GET/DELETE', async () => {
    const anonymous = new HttpClient(`https://127.0.0.1:${h.registrar.tlsPort}`, { name: 'registrar', retry: noRetry, tls: { ca: [pki.ca] } });
    const r = await anonymous.get('/v2.1/agents/');
    expect(r.status).toBe(403);
    await anonymous.close();
    const foreign = makeTestPki('foreign');
    const stranger = new HttpClient(`https://127.0.0.1:${h.registrar.tlsPort}`, {
      name: 'registrar',
      retry: noRetry,
      tls: { ca: [pki.ca], cert: foreign.clientCert, key: foreign.clientKey },
    });
    expect((await stranger.get('/v2.1/agents/')).status).toBe(403);
    await stranger.close();
    expect((await h.agentApi.get('/v2.1/agents/')).status).toBe(400);
    expect((await h.agentApi.delete('/v2.1/agents/rereg')).status).toBe(400);
    expect((await h.agentApi.get('/version')).body!.results).toMatchObject({ current_version: '2.5' });
  });

  it('bad input answers 4xx naming the field and stores nothing', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...registrationBody(rsa), aik_tpm: 'not base64!' }, 'aik_tpm'],
      [{ ...registrationBody(rsa), aik_tpm: Buffer.from([0, 5, 1, 2]).toString('base64') }, 'aik_tpm'],
      [{ ...registrationBody(rsa), aik_tpm: rsa.ekTpm.toString('base64') }, 'AK attributes'],
      [{ ...registrationBody(rsa), ek_tpm: undefined, ekcert: null }, 'ek_tpm'],
      [{ ...registrationBody(rsa), port: 70000 }, 'port'],
      [{ ...registrationBody(rsa), mtls_cert: 'nope' }, 'mtls_cert'],
      [{ ...registrationBody(rsa), ek_tpm: other.ekTpm.toString('base64') }, 'ekcert'],
    ];
    for (const [body, field] of cases) {
      const r = await h.agentApi.post('/v2.1/agents/badinput', body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body!.status).toContain(field);
    }
    const malformed = await h.agentApi.request('POST', '/v2.1/agents/badinput', { body: undefined });
    expect(malformed.status).toBe(400);
    expect(h.registrar.deps.store.get('badinput')).toBeUndefined();
    const unknown = await h.agentApi.put('/v2.1/agents/nobody/activate', { auth_tag: 'ab'.repeat(48) });
    expect(unknown.status).toBe(404);
  });

  it('accepts the legacy forms: no Content-Type, "ekcert": "emulator", ekcert without ek_tpm', async () => {
    const { act } = await enroll(h, 'legacy-emulator', ecc, { ekcert: 'emulator' });
    expect(act.status).toBe(200);
    const derived = await h.agentApi.post<{ blob: string }>('/v2.1/agents/legacy-derived', { ...registrationBody(rsa), ek_tpm: undefined });
    expect(derived.status, derived.text).toBe(200);
    // The EK rebuilt from the certificate with the EK-low template is the TPM's real EK.
    const secret = rsa.activate(Buffer.from(derived.body!.results.blob, 'base64'));
    expect(secret.length).toBe(32);
  });
});

describe('registrar EK certificate policy and persistence', () => {
  const pki = makeTestPki('registrar2');
  let tpm: Swtpm;
  let rsa: ManualIdentity;
  beforeAll(async () => {
    tpm = await startSwtpm();
    rsa = createIdentity(tpm, 'rsa');
  });
  afterAll(async () => {
    await tpm?.stop();
  });

  it('store without the swtpm CA and --require-ek-cert -> 403; without the flag -> enrolled as unverified', async () => {
    const emptyStore = mkdtempSync(join(tmpdir(), 'kts-store-'));
    const strict = await startHarness(pki, { certStore: emptyStore, requireEkCert: true });
    const refused = await strict.agentApi.post('/v2.1/agents/strict', registrationBody(rsa));
    expect(refused.status).toBe(403);
    expect(refused.body!.status).toMatch(/EK certificate is not trusted/);
    expect(strict.registrar.deps.store.get('strict')).toBeUndefined();
    await strict.close();

    const lenient = await startHarness(pki, { certStore: emptyStore });
    const { act } = await enroll(lenient, 'lenient', rsa);
    expect(act.status).toBe(200);
    const got = await lenient.tenantApi.get<{ ek_cert_status: string }>('/v2.1/agents/lenient');
    expect(got.body!.results.ek_cert_status).toBe('unverified');
    await lenient.close();
    rmSync(emptyStore, { recursive: true, force: true });
  });

  it('a restart keeps every record', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kts-reg-'));
    const first = await startHarness(pki, { dataDir, certStore: tpm.caStoreDir });
    await enroll(first, 'keep-1', rsa);
    await first.agentApi.post('/v2.1/agents/keep-2', registrationBody(rsa));
    await first.close();
    const second = await startHarness(pki, { dataDir, certStore: tpm.caStoreDir });
    const list = await second.tenantApi.get<{ uuids: string[] }>('/v2.1/agents/');
    expect(list.body!.results.uuids.sort()).toEqual(['keep-1', 'keep-2']);
    expect((await second.tenantApi.get('/v2.1/agents/keep-1')).status).toBe(200);
    await second.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
});
