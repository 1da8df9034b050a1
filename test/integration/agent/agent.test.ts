import { execFileSync } from 'node:child_process';
import { constants, createCipheriv, createHash, createHmac, generateKeyPairSync, publicEncrypt, randomBytes, sign, X509Certificate } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import { replayImaLog, templateData, type ImaEntry } from '../../../src/ima/index.js';
import { expectedDataPcr, verifyQuote, type ClockInfo } from '../../../src/quote/index.js';
import { startAgent, type RunningAgent } from '../../../src/servers/agent/index.js';
import { makeTestPki } from '../../support/certs.js';
import { startHarness, type AgentHarness } from './harness.js';
import { buildZip } from '../../unit/agent/zip-builder.js';

const ID = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';

function imaLine(path: string): { line: string; pcrDigest: Buffer } {
  const digest = createHash('sha256').update(path).digest('hex');
  const entry: ImaEntry = { pcr: '10', templateHash: '', template: 'ima-ng', digestAlg: 'sha256', digest, name: path, signature: '', buffer: '' };
  const td = templateData(entry);
  const templateHash = createHash('sha1').update(td).digest('hex');
  return { line: `10 ${templateHash} ima-ng sha256:${digest} ${path}\n`, pcrDigest: createHash('sha256').update(td).digest() };
}

function wrap(agent: RunningAgent, half: Buffer): string {
  return publicEncrypt({ key: agent.nkPublicPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, half).toString('base64');
}

function encryptPayload(k: Buffer, plaintext: Buffer): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-gcm', k, iv);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64');
}

/** Tenant side of §3.3: K random, V random, U = K xor V, auth_tag = HMAC-SHA384(K, id). */
function splitKey(agentId: string) {
  const k = randomBytes(32);
  const v = randomBytes(32);
  const u = Buffer.from(k.map((b, i) => b ^ v[i]!));
  const authTag = createHmac('sha384', k).update(agentId).digest('hex');
  return { k, u, v, authTag };
}

describe('agent on a real swtpm, enrolled with our registrar', () => {
  let h: AgentHarness;
  let agent: RunningAgent;
  let api: HttpClient;
  let imaFile: string;
  let eventLogFile: string;
  let clock: ClockInfo | undefined;
  const imaLines = ['/usr/bin/bash', '/usr/lib/libc.so.6', '/etc/ld.so.cache'].map(imaLine);

  beforeAll(async () => {
    h = await startHarness();
    imaFile = join(h.dir, 'ascii_runtime_measurements');
    eventLogFile = join(h.dir, 'binary_bios_measurements');
    writeFileSync(imaFile, imaLines.map((l) => l.line).join(''));
    writeFileSync(eventLogFile, randomBytes(300));
    agent = await startAgent(h.agentOptions({ imaLog: imaFile, eventLog: eventLogFile }));
    // What the kernel would have done while measuring those three files.
    for (const l of imaLines) await agent.tpm.pcrExtend(10, 'sha256', l.pcrDigest);
    api = h.clientFor(agent);
  });

  afterAll(async () => {
    await agent?.close();
    await h?.close();
  });

  it('enrolls: the registrar has it active with our AK, EK, EK certificate and mTLS certificate', async () => {
    const got = await h.registrarTenant.get<Record<string, unknown>>(`/v2.2/agents/${ID}`);
    expect(got.status, got.text).toBe(200);
    expect(got.body!.results).toMatchObject({
      aik_tpm: agent.akPublic.toString('base64'),
      ek_tpm: agent.ekPublic.toString('base64'),
      ekcert: agent.ekCert!.toString('base64'),
      mtls_cert: agent.mtlsCertPem,
      ip: '127.0.0.1',
      port: agent.port,
      regcount: 1,
    });
    expect(agent.registrarVersion).toBe('2.2');
  });

  it('keeps its files private in the data directory', () => {
    const dir = h.agentOptions().dataDir;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of ['payload-private.pem', 'server-private.pem', 'agent_data.json']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    const cert = new X509Certificate(agent.mtlsCertPem);
    expect(cert.subject).toBe(`CN=${ID}`);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:localhost, DNS:localhost.domain, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(readFileSync(join(dir, 'server-cert.crt'), 'utf8')).toBe(agent.mtlsCertPem);
    const data = JSON.parse(readFileSync(join(dir, 'agent_data.json'), 'utf8'));
    expect(data).toMatchObject({ version: 1, agent_id: ID, ek_alg: 'rsa', hash_alg: 'sha256', sign_alg: 'rsassa', ak_public: agent.akPublic.toString('base64') });
  });

  it('answers /version with exactly the versions it serves, and 400 for any other version', async () => {
    const v = await api.get('/version');
    expect(v.body).toEqual({ code: 200, status: 'Success', results: { supported_version: '2.2', supported_versions: ['2.1', '2.2'] } });
    for (const path of ['/v2.0/keys/pubkey', '/v2.3/quotes/identity?nonce=abc', '/v3.0/agent/info']) {
      const r = await api.get(path);
      expect(r.status, path).toBe(400);
      expect(r.body).toEqual({ code: 400, status: `API version not supported: ${path.split('/')[1]}`, results: {} });
    }
    const info = await api.get('/v2.2/agent/info');
    expect(info.body!.results).toMatchObject({ agent_uuid: ID, tpm_hash_alg: 'sha256', tpm_enc_alg: 'rsa', tpm_sign_alg: 'rsassa' });
    expect((await api.get('/v2.1/agent/info')).status).toBe(404);
    const missing = await api.get('/v2.1/nothing/here');
    expect(missing.body).toMatchObject({ status: expect.stringContaining('/v2.1, /v2.2'), results: {} });
  });

  it('serves an identity quote that verifies, PCR 16 bound to the exact NK PEM', async () => {
    const nonce = 'aB3dE5gH7jK9mN1pQ3sT';
    const r = await api.get<Record<string, string>>('/v2.1/quotes/identity', { query: { nonce } });
    expect(r.status, r.text).toBe(200);
    const res = r.body!.results;
    expect(res).toMatchObject({ hash_alg: 'sha256', enc_alg: 'rsa', sign_alg: 'rsassa', pubkey: agent.nkPublicPem });
    expect(res.pubkey).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
    // Clock checked from Keylime's initial state: safe flag set, clock running.
    const verdict = verifyQuote({ quote: res.quote!, ak: agent.akPublic, nonce, hashAlg: 'sha256', dataPubkeyPem: res.pubkey! });
    expect(verdict.failures).toEqual([]);
    expect(verdict.attest.clockInfo.safe).toBe(1);
    clock = verdict.clock;
    expect(Object.keys(verdict.pcrs)).toEqual(['16']);
    expect(verdict.pcrs[16]).toBe(expectedDataPcr(agent.nkPublicPem, 'sha256'));
    // Another nonce is not this quote's.
    expect(verifyQuote({ quote: res.quote!, ak: agent.akPublic, nonce: 'other', hashAlg: 'sha256', skipClockCheck: true }).valid).toBe(false);
  });

  it('serves an integrity quote over mask 0x408400 + PCR 16 with the IMA list matching PCR 10', async () => {
    const nonce = 'Z9y8X7w6V5u4T3s2R1q0';
    const r = await api.get<Record<string, unknown>>('/v2.2/quotes/integrity', { query: { nonce, mask: '0x408400', partial: '0', ima_ml_entry: '0' } });
    expect(r.status, r.text).toBe(200);
    const res = r.body!.results;
    expect(res.pubkey).toBe(agent.nkPublicPem);
    expect(res.ima_measurement_list).toBe(imaLines.map((l) => l.line).join(''));
    expect(res.ima_measurement_list_entry).toBe(0);
    expect(res).not.toHaveProperty('mb_measurement_list');
    const verdict = verifyQuote({ quote: res.quote as string, ak: agent.akPublic, nonce, hashAlg: 'sha256', dataPubkeyPem: agent.nkPublicPem, lastClock: clock });
    expect(verdict.failures).toEqual([]);
    expect(verdict.clock.clock).toBeGreaterThan(clock!.clock);
    expect(Object.keys(verdict.pcrs).map(Number)).toEqual([10, 15, 16, 22]);
    const replay = replayImaLog(res.ima_measurement_list as string, { bank: 'sha256', quotedPcr10: verdict.pcrs[10] });
    expect(replay.pcrMatchLine).toBe(3);
  });

  it('sends the IMA list incrementally, and the whole list again for an entry beyond the end', async () => {
    const next = imaLine('/usr/sbin/sshd');
    appendFileSync(imaFile, next.line);
    await agent.tpm.pcrExtend(10, 'sha256', next.pcrDigest);
    const ask = async (entry: string) =>
      (await api.get<Record<string, unknown>>('/v2.2/quotes/integrity', { query: { nonce: 'n1', mask: '0x400', partial: '1', ima_ml_entry: entry } })).body!.results;
    const tail = await ask('3');
    expect(tail).toMatchObject({ ima_measurement_list: next.line, ima_measurement_list_entry: 3 });
    expect(tail).not.toHaveProperty('pubkey');
    expect(await ask('4')).toMatchObject({ ima_measurement_list: '', ima_measurement_list_entry: 4 });
    const all = await ask('99');
    expect(all).toMatchObject({ ima_measurement_list_entry: 0 });
    expect((all.ima_measurement_list as string).split('\n')).toHaveLength(5);
    expect(await ask('junk')).toMatchObject({ ima_measurement_list_entry: 0 });
  });

  it('sends the boot event log when PCR 0 is in the mask', async () => {
    const r = await api.get<Record<string, unknown>>('/v2.1/quotes/integrity', { query: { nonce: 'abc', mask: '0x1', partial: '0' } });
    expect(r.body!.results.mb_measurement_list).toBe(readFileSync(eventLogFile).toString('base64'));
    expect(r.body!.results).not.toHaveProperty('ima_measurement_list');
    const v = verifyQuote({ quote: r.body!.results.quote as string, ak: agent.akPublic, nonce: 'abc', hashAlg: 'sha256', dataPubkeyPem: agent.nkPublicPem, skipClockCheck: true });
    expect(Object.keys(v.pcrs).map(Number)).toEqual([0, 16]);
    expect(v.valid).toBe(true);
  });

  it('answers bad nonce, mask and partial with 400 and the reason', async () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ['identity', { nonce: 'abc-def' }, 'Parameters should be strictly alphanumeric: abc-def'],
      ['identity', {}, "Missing query parameter 'nonce'"],
      ['identity', { nonce: 'a'.repeat(65) }, 'Nonce is too long (max size: 64): 65 characters'],
      ['integrity', { nonce: 'abc$', mask: '0x1', partial: '0' }, 'nonce should be strictly alphanumeric: abc$'],
      ['integrity', { nonce: 'abc', mask: '0x40-84', partial: '0' }, 'mask should be strictly alphanumeric: 0x40-84'],
      ['integrity', { nonce: 'abc', mask: '0xZZ', partial: '0' }, 'mask should be a hex encoded 32-bit integer: 0xZZ'],
      ['integrity', { nonce: 'abc', mask: '0x1000000', partial: '0' }, 'mask selects PCRs above 23, which a TPM does not have: 0x1000000'],
      ['integrity', { nonce: 'abc', mask: '0x1', partial: '2' }, "uri must contain key 'partial' and value '0' or '1'"],
      ['integrity', { nonce: 'abc', mask: '0x1' }, "uri must contain key 'partial' and value '0' or '1'"],
    ];
    for (const [endpoint, query, status] of cases) {
      const r = await api.get(`/v2.1/quotes/${endpoint}`, { query });
      expect(r.status, JSON.stringify(query)).toBe(400);
      expect(r.body).toEqual({ code: 400, status, results: {} });
    }
  });

  it('derives K from U and V, in either order, and answers /keys/verify (§14 vectors too)', async () => {
    const before = await api.get('/v2.1/keys/verify', { query: { challenge: 'abc' } });
    expect(before.body).toEqual({ code: 400, status: 'Bootstrap key not yet available.', results: {} });

    // §14: K = 00..1f, challenge 1234567890ABCDEFHIJK.
    const k = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const v = randomBytes(32);
    const u = Buffer.from(k.map((b, i) => b ^ v[i]!));
    const authTag = createHmac('sha384', k).update(ID).digest('hex');
    expect(authTag).toBe('74216909e21c5a1a5fb9e0ad23881f6f1693d01b5469c4d12dfe4ea151ab3334690966790c8e3b4a358b1be3ca443e2d');
    expect((await api.post('/v2.1/keys/vkey', { encrypted_key: wrap(agent, v) })).status).toBe(200);
    const up = await api.post('/v2.1/keys/ukey', { auth_tag: authTag, encrypted_key: wrap(agent, u) });
    expect(up.body).toEqual({ code: 200, status: 'Success', results: {} });
    const verify = await api.get<{ hmac: string }>('/v2.1/keys/verify', { query: { challenge: '1234567890ABCDEFHIJK' } });
    expect(verify.body!.results.hmac).toBe(
      'f9540061792bf71ae1493bc6ba7c32125f98eae91ef24a2c5d60ef30c3997a07bf4f16ed4ef069378b0ba58c895ace76',
    );

    // U first this time, a fresh K replaces the old one.
    const next = splitKey(ID);
    await api.post('/v2.2/keys/ukey', { auth_tag: next.authTag, encrypted_key: wrap(agent, next.u) });
    await api.post('/v2.2/keys/vkey', { encrypted_key: wrap(agent, next.v) });
    const again = await api.get<{ hmac: string }>('/v2.2/keys/verify', { query: { challenge: 'xyz' } });
    expect(again.body!.results.hmac).toBe(createHmac('sha384', next.k).update('xyz').digest('hex'));
    const pub = await api.get<{ pubkey: string }>('/v2.2/keys/pubkey');
    expect(pub.body!.results.pubkey).toBe(agent.nkPublicPem);
  });

  it('ignores a U whose auth_tag does not match: no key from it', async () => {
    const before = (await api.get<{ hmac: string }>('/v2.1/keys/verify', { query: { challenge: 'probe' } })).body!.results.hmac;
    const s = splitKey(ID);
    const wrongTag = createHmac('sha384', s.k).update('another-agent').digest('hex');
    await api.post('/v2.1/keys/ukey', { auth_tag: wrongTag, encrypted_key: wrap(agent, s.u), payload: encryptPayload(s.k, Buffer.from('secret')) });
    await api.post('/v2.1/keys/vkey', { encrypted_key: wrap(agent, s.v) });
    await agent.idle();
    const after = (await api.get<{ hmac: string }>('/v2.1/keys/verify', { query: { challenge: 'probe' } })).body!.results.hmac;
    expect(after).toBe(before);
    expect(after).not.toBe(createHmac('sha384', s.k).update('probe').digest('hex'));
  });

  it('refuses malformed ukey/vkey bodies with Keylime-style messages', async () => {
    const s = splitKey(ID);
    const cases: Array<[string, unknown, RegExp]> = [
      ['ukey', { auth_tag: s.authTag, encrypted_key: 'not base64!' }, /^Invalid base64 encoding in encrypted_key: /],
      ['ukey', { auth_tag: s.authTag, encrypted_key: Buffer.alloc(256).toString('base64') }, /^Failed to decrypt encrypted_key: /],
      ['ukey', { auth_tag: s.authTag, encrypted_key: wrap(agent, randomBytes(20)) }, /^Invalid decrypted key: 20 bytes/],
      ['ukey', { auth_tag: 'xyz', encrypted_key: wrap(agent, s.u) }, /^Invalid hex encoding in auth_tag: /],
      ['ukey', { auth_tag: 'abcd', encrypted_key: wrap(agent, s.u) }, /^Invalid auth_tag length: 2 bytes/],
      ['ukey', { auth_tag: s.authTag, encrypted_key: wrap(agent, s.u), payload: '%%%' }, /^Invalid base64 encoding in payload: /],
      ['ukey', { encrypted_key: wrap(agent, s.u) }, /^Missing field 'auth_tag'/],
      ['vkey', { encrypted_key: wrap(agent, randomBytes(8)) }, /^Decrypted key is invalid: 8 bytes/],
      ['vkey', [], /^Request body must be a JSON object/],
    ];
    for (const [what, body, status] of cases) {
      const r = await api.post(`/v2.1/keys/${what}`, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body?.status).toMatch(status);
    }
  });

  it('delivers a zip payload into secure/unzipped, and runs no script without --enable-payload-script', async () => {
    const s = splitKey(ID);
    const zip = buildZip([
      { name: 'cert.crt', data: Buffer.from('CERT') },
      { name: 'sub/dir/file.txt', data: Buffer.from('hello'.repeat(100)), deflate: true },
      { name: 'autorun.sh', data: Buffer.from('#!/bin/sh\ntouch ran\n') },
    ]);
    await api.post('/v2.1/keys/ukey', { auth_tag: s.authTag, encrypted_key: wrap(agent, s.u), payload: encryptPayload(s.k, zip) });
    await api.post('/v2.1/keys/vkey', { encrypted_key: wrap(agent, s.v) });
    await agent.idle();
    expect(agent.lastPayload).toMatchObject({ ok: true });
    const dir = join(h.agentOptions().dataDir, 'secure', 'unzipped');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'derived_tci_key')).equals(s.k)).toBe(true);
    expect(readFileSync(join(dir, 'decrypted_payload')).equals(zip)).toBe(true);
    expect(readFileSync(join(dir, 'sub/dir/file.txt'), 'utf8')).toBe('hello'.repeat(100));
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  it('refuses a payload zip with a ../ entry or a symlink and writes nothing outside the directory', async () => {
    const dataDir = h.agentOptions().dataDir;
    const listing = () => readdirSync(h.dir, { recursive: true }).map(String).filter((p) => !p.startsWith('agent/secure/unzipped')).sort();
    const outside = listing();
    for (const [what, entries] of [
      ['../ entry', [{ name: 'ok.txt', data: Buffer.from('fine') }, { name: '../../../escaped.txt', data: Buffer.from('pwned') }]],
      ['symlink', [{ name: 'link', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 }, { name: 'link/x', data: Buffer.from('x') }]],
      ['absolute path', [{ name: `${h.dir}/abs.txt`, data: Buffer.from('pwned') }]],
    ] as const) {
      const s = splitKey(ID);
      await api.post('/v2.1/keys/ukey', { auth_tag: s.authTag, encrypted_key: wrap(agent, s.u), payload: encryptPayload(s.k, buildZip([...entries])) });
      await api.post('/v2.1/keys/vkey', { encrypted_key: wrap(agent, s.v) });
      await agent.idle();
      expect(agent.lastPayload, what).toMatchObject({ ok: false });
      const unzipped = readdirSync(join(dataDir, 'secure', 'unzipped')).sort();
      expect(unzipped, what).toEqual(['decrypted_payload', 'derived_tci_key']);
    }
    expect(listing()).toEqual(outside);
    expect(existsSync(join(h.dir, '..', 'escaped.txt'))).toBe(false);
  });

  it('refuses clients without a certificate or with one from another CA', async () => {
    const { HttpClient } = await import('../../../src/client/http.js');
    const anonymous = new HttpClient(`https://127.0.0.1:${agent.port}`, { name: 'agent', retry: { retryInterval: 0, maxRetries: 0, exponentialBackoff: false }, tls: { ca: [agent.mtlsCertPem] } });
    await expect(anonymous.get('/version')).rejects.toMatchObject({ code: 'unreachable' });
    await anonymous.close();
    const stranger = makeTestPki('stranger');
    const foreign = h.clientFor(agent, { cert: stranger.clientCert, key: stranger.clientKey });
    await expect(foreign.get('/v2.1/keys/pubkey')).rejects.toMatchObject({ code: 'unreachable' });
    // The right certificate still works.
    expect((await api.get('/v2.1/keys/pubkey')).status).toBe(200);
  });
});

describe('agent with payload scripts and a revocation action enabled', () => {
  let h: AgentHarness;
  let agent: RunningAgent;
  let api: HttpClient;
  let notifierKey: string;
  let notifierCert: string;
  const actionOutput = () => join(h.dir, 'revoked.json');

  beforeAll(async () => {
    h = await startHarness({ swtpm: { ekCert: false } });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rn.key', '-out', 'rn.crt', '-days', '2', '-subj', '/CN=RevocationNotifier'], { cwd: h.dir, stdio: 'pipe' });
    notifierKey = readFileSync(join(h.dir, 'rn.key'), 'utf8');
    notifierCert = readFileSync(join(h.dir, 'rn.crt'), 'utf8');
    const action = join(h.dir, 'on-revocation.sh');
    writeFileSync(action, `#!/bin/sh\ncp "$1" ${actionOutput()}\n`, { mode: 0o755 });
    agent = await startAgent(h.agentOptions({ enablePayloadScript: true, revocationAction: action }));
    api = h.clientFor(agent);
  });
  afterAll(async () => {
    await agent?.close();
    await h?.close();
  });

  const notification = (msg: string, key = notifierKey) => ({
    msg,
    signature: sign('sha256', Buffer.from(msg), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN }).toString('base64'),
  });

  it('ignores a revocation notification before a payload brought the RevocationNotifier certificate', async () => {
    const r = await api.post('/v2.1/notifications/revocation', notification('{"type":"revocation"}'));
    expect(r.body).toEqual({ code: 200, status: 'Success', results: {} });
    await agent.idle();
    expect(agent.lastRevocation).toEqual({ ok: true, value: { status: 'no-certificate' } });
  });

  it('runs autorun.sh from the payload in unzipped/ with AGENT_UUID', async () => {
    const s = splitKey(ID);
    const zip = buildZip([
      { name: 'RevocationNotifier-cert.crt', data: Buffer.from(notifierCert) },
      { name: 'autorun.sh', data: Buffer.from('#!/bin/sh\necho "$AGENT_UUID" > ran.txt\n') },
    ]);
    await api.post('/v2.2/keys/vkey', { encrypted_key: wrap(agent, s.v) });
    await api.post('/v2.2/keys/ukey', { auth_tag: s.authTag, encrypted_key: wrap(agent, s.u), payload: encryptPayload(s.k, zip) });
    await agent.idle();
    expect(agent.lastPayload).toMatchObject({ ok: true, value: { scriptExitCode: 0 } });
    expect(readFileSync(join(h.agentOptions().dataDir, 'secure', 'unzipped', 'ran.txt'), 'utf8')).toBe(`${ID}\n`);
  });

  it('verifies notifications with that certificate and runs the action only for valid ones', async () => {
    const msg = JSON.stringify({ type: 'revocation', agent_id: 'other-agent', event_id: 'pcr_validation.invalid_pcr_15' });
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await api.post('/v2.2/notifications/revocation', notification(msg, stranger));
    await agent.idle();
    expect(agent.lastRevocation).toMatchObject({ ok: true, value: { status: 'bad-signature' } });
    expect(existsSync(actionOutput())).toBe(false);

    await api.post('/v2.2/notifications/revocation', notification(msg));
    await agent.idle();
    expect(agent.lastRevocation).toMatchObject({ ok: true, value: { status: 'accepted', actionExitCode: 0 } });
    expect(readFileSync(actionOutput(), 'utf8')).toBe(msg);
    const bad = await api.post('/v2.2/notifications/revocation', { msg });
    expect(bad.body).toEqual({ code: 400, status: "Missing or non-string field 'signature' in request body", results: {} });
  });
});
