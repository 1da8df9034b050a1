/**
 * Signed runtime policies at the verifier's upload (spec keylime-ima-mb §2.7): a DSSE
 * envelope sent with `runtime_policy_key` (base64 of the PEM public key) is stored only
 * if a signature verifies under that key; anything else is refused and nothing is kept.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/client/http.js';
import { initCa, readTlsMaterial } from '../../../src/crypto/ca.js';
import { emptyRuntimePolicy, parseRuntimePolicy, signDsseEnvelope, type DsseEnvelope } from '../../../src/ima/index.js';
import { silentLogger } from '../../../src/log.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';

let dir: string;
let verifier: RunningVerifier;
let admin: HttpClient;

const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function policyJson(digest: string): string {
  const p = emptyRuntimePolicy();
  p.digests = { '/usr/bin/bash': [digest] };
  p.excludes = ['/tmp/.*'];
  return JSON.stringify(p);
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const pemB64 = (key: KeyObject) => b64(key.export({ format: 'pem', type: 'spki' }) as string);

function envelope(policy: string, key: KeyObject = signer.privateKey): DsseEnvelope {
  return signDsseEnvelope(Buffer.from(policy, 'utf8'), key);
}

async function upload(name: string, env: unknown, key: string | null, method: 'post' | 'put' = 'post') {
  const body = { runtime_policy: b64(JSON.stringify(env)), runtime_policy_key: key, tpm_policy: null };
  return method === 'post' ? admin.post<Record<string, unknown>>(`/v2.2/allowlists/${name}`, body) : admin.put<Record<string, unknown>>(`/v2.2/allowlists/${name}`, body);
}

async function storedNames(): Promise<string[]> {
  const r = await admin.get<{ 'runtimepolicy names': string[] }>('/v2.2/allowlists/');
  expect(r.status).toBe(200);
  return r.body!.results['runtimepolicy names'];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kts-dsse-it-'));
  const caDir = join(dir, 'cv_ca');
  await initCa(caDir, { hosts: ['127.0.0.1'] });
  verifier = await startVerifier({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'verifier'), certDir: caDir, logger: silentLogger });
  const client = readTlsMaterial(caDir, 'client');
  admin = new HttpClient(`https://127.0.0.1:${verifier.port}`, {
    name: 'verifier',
    retry: { retryInterval: 0, maxRetries: 0, exponentialBackoff: false },
    tls: { ca: [client.ca], cert: client.cert, key: client.key },
  });
}, 60_000);

afterAll(async () => {
  await admin?.close();
  await verifier?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('DSSE-signed runtime policy upload', () => {
  const good = policyJson('a'.repeat(64));

  it('accepts an envelope whose signature verifies with runtime_policy_key, and evaluates its payload', async () => {
    const env = envelope(good);
    const r = await upload('signed-ok', env, pemB64(signer.publicKey));
    expect(r.status, r.text).toBe(201);
    const got = await admin.get<Record<string, unknown>>('/v2.2/allowlists/signed-ok');
    expect(got.status).toBe(200);
    // The envelope is what is stored (Keylime keeps it, and re-extracts the payload per attestation).
    const stored = String(got.body!.results.runtime_policy);
    expect(JSON.parse(stored)).toEqual(env);
    expect(parseRuntimePolicy(stored).digests).toEqual({ '/usr/bin/bash': ['a'.repeat(64)] });
  });

  it('refuses a tampered payload (signature over other bytes) with 401 and stores nothing', async () => {
    const env = envelope(good);
    // The attacker swaps in a policy that allows their binary, keeping the old signature.
    const tampered = { ...env, payload: b64(policyJson('b'.repeat(64))) };
    const r = await upload('signed-tampered', tampered, pemB64(signer.publicKey));
    expect(r.status).toBe(401);
    expect(r.body?.status).toMatch(/failed DSSE signature verification/);
    expect((await admin.get('/v2.2/allowlists/signed-tampered')).status).toBe(404);
    expect(await storedNames()).not.toContain('signed-tampered');
  });

  it('refuses an envelope signed by another key than the one given, and a corrupted signature', async () => {
    const byStranger = envelope(good, stranger.privateKey);
    const r = await upload('signed-wrong-key', byStranger, pemB64(signer.publicKey));
    expect(r.status).toBe(401);
    expect(r.body?.status).toMatch(/runtime_policy_key/);

    const env = envelope(good);
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[sig.length - 1]! ^= 0x01;
    const corrupted = { ...env, signatures: [{ ...env.signatures[0]!, sig: sig.toString('base64') }] };
    const r2 = await upload('signed-corrupted', corrupted, pemB64(signer.publicKey));
    expect(r2.status).toBe(401);

    const names = await storedNames();
    expect(names).not.toContain('signed-wrong-key');
    expect(names).not.toContain('signed-corrupted');
  });

  it('refuses an unusable key with 400 naming the field (not base64; not an EC key)', async () => {
    const env = envelope(good);
    const notB64 = await upload('signed-bad-key', env, 'not base64 at all!');
    expect(notB64.status).toBe(400);
    expect(notB64.body?.status).toMatch(/runtime_policy_key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaKey = await upload('signed-rsa-key', env, pemB64(rsa.publicKey));
    expect(rsaKey.status).toBe(400);
    expect(rsaKey.body?.status).toMatch(/EC public key/);
    expect(await storedNames()).toEqual(['signed-ok']);
  });

  it('a PUT with a bad signature leaves the stored policy as it was', async () => {
    const env = envelope(policyJson('c'.repeat(64)), stranger.privateKey);
    const r = await upload('signed-ok', env, pemB64(signer.publicKey), 'put');
    expect(r.status).toBe(401);
    const got = await admin.get<Record<string, unknown>>('/v2.2/allowlists/signed-ok');
    expect(parseRuntimePolicy(String(got.body!.results.runtime_policy)).digests['/usr/bin/bash']).toEqual(['a'.repeat(64)]);
  });

  it('without a key, an envelope is stored unverified, as Keylime does with require_allow_list_signatures off', async () => {
    const tampered = { ...envelope(good), payload: b64(policyJson('d'.repeat(64))) };
    const r = await upload('signed-no-key', tampered, null);
    expect(r.status, r.text).toBe(201);
  });
});
