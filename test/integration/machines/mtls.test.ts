/**
 * The machine API over real mTLS, as the verifier serves it (clientAuth 'optional', our
 * CA from initCa): the CA client certificate administers; a machine certificate (CN =
 * agent id, or the agent's own pinned certificate) fetches only its own items; the gate
 * follows the agent's attestation; a restart keeps everything.
 */
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueCertificate, readTlsMaterial } from '../../../src/crypto/ca.js';
import { selfSignedServerCert } from '../../../src/crypto/self-signed.js';
import { KeylimeError } from '../../../src/errors.js';
import { listen } from '../../../src/servers/http/server.js';
import { HttpClient, type ClientTls } from '../../../src/client/http.js';
import { MachineApiClient } from '../../../src/client/machines.js';
import type { AgentAttestation, MachineAgentInfo, MachineApiDeps } from '../../../src/servers/machines/index.js';
import { makeTestPki } from '../../support/certs.js';
import { AGENT_A, AGENT_B, SSH_KEY, buildApp } from '../../unit/machines-server/harness.js';

const root = mkdtempSync(join(tmpdir(), 'kts-machines-mtls-'));
const caDir = join(root, 'cv_ca');
const dataDir = join(root, 'verifier');
const agents = new Map<string, MachineAgentInfo>();
const verdicts = new Map<string, AgentAttestation>();
const deps: MachineApiDeps = {
  dataDir,
  agents: { list: () => [...agents.values()], get: (id) => agents.get(id) },
  attestation: (id) => verdicts.get(id) ?? { ok: true },
};
const LUKS_SECRET = '5a1e0c3b9d7f2468ace013579bdf02468ace1357';
const HOTP_SECRET = '3132333435363738393031323334353637383930';

let app: FastifyInstance;
let port: number;
let tls: { cert: string; key: string; ca: string[] };
const clients: Array<{ close(): Promise<void> }> = [];
let material: Record<'admin' | 'machineA' | 'pinnedB' | 'foreign' | 'none', ClientTls>;

async function start(): Promise<void> {
  app = buildApp(deps, { ...tls, clientAuth: 'optional' });
  port = await listen(app, '127.0.0.1', 0);
}

function api(who: keyof typeof material): MachineApiClient {
  const client = new MachineApiClient(`https://127.0.0.1:${port}`, { tls: material[who], timeoutMs: 20_000 });
  clients.push(client);
  return client;
}

/** The failure of a call: HTTP status, privacyIDEA code and detail. */
async function failure(call: Promise<unknown>): Promise<{ status: number; code: number; message: string; detail: any; kind: string }> {
  try {
    await call;
  } catch (e) {
    if (!(e instanceof KeylimeError)) throw e;
    const d = e.details as { status: number; code: number; detail: unknown };
    return { status: d.status, code: d.code, message: e.message, detail: d.detail, kind: e.code };
  }
  throw new Error('expected the call to fail');
}

function hotp(key: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const o = mac[19]! & 0x0f;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

function pbkdf2Verify(password: string, hash: string): boolean {
  const [, scheme, rounds, salt, checksum] = hash.split('$');
  if (scheme !== 'pbkdf2-sha512') return false;
  const b = (s: string) => Buffer.from(s!.replace(/\./g, '+'), 'base64');
  return pbkdf2Sync(password, b(salt!), Number(rounds), 64, 'sha512').equals(b(checksum!));
}

beforeAll(async () => {
  await initCa(caDir, { hosts: ['127.0.0.1'] });
  await issueCertificate(caDir, { kind: 'client', name: AGENT_A });
  const server = readTlsMaterial(caDir, 'server');
  tls = { cert: server.cert, key: server.key, ca: [server.ca] };
  const pinnedB = await selfSignedServerCert({ commonName: AGENT_B, hosts: ['10.0.0.6'] });
  const foreign = makeTestPki('foreign');
  const admin = readTlsMaterial(caDir, 'client');
  const machineA = readTlsMaterial(caDir, AGENT_A);
  material = {
    admin: { ca: [server.ca], cert: admin.cert, key: admin.key },
    machineA: { ca: [server.ca], cert: machineA.cert, key: machineA.key },
    pinnedB: { ca: [server.ca], cert: pinnedB.certPem, key: pinnedB.keyPem },
    foreign: { ca: [server.ca], cert: foreign.clientCert, key: foreign.clientKey },
    none: { ca: [server.ca] },
  };
  agents.set(AGENT_A, { agent_id: AGENT_A, ip: '10.0.0.5', port: 9002, meta_data: '{"hostname":"web1"}' });
  agents.set(AGENT_B, { agent_id: AGENT_B, ip: '10.0.0.6', port: 9002, meta_data: '{"hostname":"db1"}', mtls_cert: pinnedB.certPem });
  await start();

  const admin_ = api('admin');
  await admin_.initToken({ type: 'sshkey', sshkey: SSH_KEY, serial: 'SSH-A', user: 'alice' });
  await admin_.initToken({ type: 'sshkey', sshkey: SSH_KEY.replace('ops@example', 'db@example'), serial: 'SSH-B' });
  await admin_.initToken({ type: 'luks', otpkey: LUKS_SECRET, serial: 'UBOM-A' });
  await admin_.initToken({ type: 'hotp', otpkey: HOTP_SECRET, serial: 'OATH-A' });
  await admin_.attachToken({ serial: 'SSH-A', application: 'ssh', hostname: 'web1', user: 'root' });
  await admin_.attachToken({ serial: 'SSH-B', application: 'ssh', hostname: 'db1', user: 'postgres' });
  await admin_.attachToken({ serial: 'UBOM-A', application: 'luks', machineid: AGENT_A, resolver: 'keylime', slot: 1 });
  await admin_.attachToken({ serial: 'OATH-A', application: 'offline', hostname: 'web1', count: 4, rounds: 200 });
  await admin_.setOptions({ serial: 'UBOM-A', application: 'luks', hostname: 'web1', partition: '/dev/vda3' });
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('machine certificates', () => {
  it('lets a machine with a CA certificate named after its agent fetch its own ssh key', async () => {
    const value = await api('machineA').authItems({ hostname: 'web1' }, 'ssh');
    expect(value).toEqual({ ssh: [{ sshkey: SSH_KEY, username: 'alice', user: 'root', serial: null }] });
    // Its agent id names it too.
    expect((await api('machineA').authItems({ hostname: AGENT_A }, 'ssh')).ssh).toHaveLength(1);
  });

  it("refuses a machine another machine's items, service_id lookups and every management endpoint", async () => {
    const other = await failure(api('machineA').authItems({ hostname: 'db1' }, 'ssh'));
    expect(other).toMatchObject({ status: 403, code: 303, kind: 'forbidden' });
    expect(other.message).toBe(`The certificate of agent ${AGENT_A} may only fetch its own authentication items, and db1 is not agent ${AGENT_A}.`);
    expect((await failure(api('machineA').authItems({ hostname: 'web1', service_id: 'git' }))).status).toBe(403);
    expect((await failure(api('machineA').listBindings({ serial: 'SSH-A' }))).status).toBe(403);
    expect((await failure(api('machineA').listTokens())).status).toBe(403);
    expect((await failure(api('machineA').attachToken({ serial: 'SSH-B', application: 'ssh', hostname: 'web1' }))).status).toBe(403);
    expect((await failure(api('machineA').listMachines())).status).toBe(403);
  });

  it("accepts an agent's own pinned (self-signed) certificate for that agent only", async () => {
    const value = await api('pinnedB').authItems({ hostname: 'db1' }, 'ssh');
    expect(value.ssh![0]!.sshkey).toMatch(/db@example$/);
    expect((await failure(api('pinnedB').authItems({ hostname: 'web1' }, 'ssh'))).status).toBe(403);
  });

  it('answers 401 in the privacyIDEA envelope without a certificate or with a foreign one', async () => {
    expect(await failure(api('none').authItems({ hostname: 'web1' }))).toMatchObject({ status: 401, code: 4033 });
    expect(await failure(api('foreign').listTokens())).toMatchObject({ status: 401, code: 4304 });
  });

  it("leaves the verifier's own routes closed to callers without a certificate", async () => {
    const plain = new HttpClient(`https://127.0.0.1:${port}`, { name: 'verifier', tls: material.none });
    clients.push(plain);
    const r = await plain.get('/v2.0/agents/');
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 403 });
  });
});

describe('attestation gate', () => {
  it('answers 403 with the event id while the agent fails, and grants again once it passes', async () => {
    verdicts.set(AGENT_A, { ok: false, eventId: 'pcr_validation.invalid_pcr_16', state: 'Invalid Quote' });
    const refused = await failure(api('machineA').authItems({ hostname: 'web1' }, 'ssh'));
    expect(refused).toMatchObject({ status: 403, code: 303, kind: 'verification' });
    expect(refused.detail).toMatchObject({ event_id: 'pcr_validation.invalid_pcr_16', status: 'Invalid Quote', machine_id: AGENT_A });
    // The administrator is refused too: the gate is about the machine, not the caller.
    expect((await failure(api('admin').authItems({ hostname: 'web1' }, 'ssh'))).detail.event_id).toBe('pcr_validation.invalid_pcr_16');
    verdicts.delete(AGENT_A);
    expect((await api('machineA').authItems({ hostname: 'web1' }, 'ssh')).ssh).toHaveLength(1);
  });
});

describe('luks and offline over mTLS', () => {
  it('answers the luks challenge with HMAC-SHA1(secret, challenge) computed independently', async () => {
    const challenge = 'c0ffee00'.repeat(8);
    const value = await api('machineA').authItems({ hostname: 'web1', challenge }, 'luks');
    expect(value.luks).toEqual([
      {
        challenge,
        response: createHmac('sha1', Buffer.from(LUKS_SECRET, 'hex')).update(Buffer.from(challenge, 'hex')).digest('hex'),
        slot: '1',
        partition: '/dev/vda3',
        serial: null,
      },
    ]);
  });

  it('hands out offline values that verify with independent PBKDF2-SHA512 and advances the counter by count', async () => {
    const key = Buffer.from(HOTP_SECRET, 'hex');
    const before = (await api('admin').listTokens({ serial: 'OATH-A' }))[0]!.count;
    const item = (await api('machineA').authItems({ hostname: 'web1', challenge: '1234' + hotp(key, before) }, 'offline')).offline![0]!;
    const response = item.response as Record<string, string>;
    expect(Object.keys(response).map(Number)).toEqual([before, before + 1, before + 2, before + 3]);
    for (const [counter, hash] of Object.entries(response)) {
      expect(pbkdf2Verify('1234' + hotp(key, Number(counter)), hash)).toBe(true);
      expect(pbkdf2Verify('9999' + hotp(key, Number(counter)), hash)).toBe(false);
    }
    expect((await api('admin').listTokens({ serial: 'OATH-A' }))[0]!.count).toBe(before + 4);
  });
});

describe('restart', () => {
  it('keeps tokens, bindings and options, and secrets still open with the key on disk', async () => {
    const admin = api('admin');
    const tokensBefore = await admin.listTokens();
    const bindingsBefore = await admin.listBindings({ hostname: 'web1' });
    // Sorted by serial, privacyIDEA's default.
    expect(bindingsBefore.map((b) => [b.serial, b.options])).toEqual([
      ['OATH-A', { count: '4', rounds: '200' }],
      ['SSH-A', { user: 'root' }],
      ['UBOM-A', { slot: '1', partition: '/dev/vda3' }],
    ]);
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await app.close();
    await start();
    expect(await api('admin').listTokens()).toEqual(tokensBefore);
    expect(await api('admin').listBindings({ hostname: 'web1' })).toEqual(bindingsBefore);
    const luks = (await api('machineA').authItems({ hostname: 'web1', challenge: 'abcdef' }, 'luks')).luks![0]!;
    expect(luks.response).toBe(createHmac('sha1', Buffer.from(LUKS_SECRET, 'hex')).update(Buffer.from('abcdef', 'hex')).digest('hex'));
    expect((await api('machineA').authItems({ hostname: 'web1' }, 'ssh')).ssh![0]!.sshkey).toBe(SSH_KEY);
  });
});
