/**
 * GET /machine/authitem through HTTP with the attestation gate: items only while the
 * agent passes, 403 with the event id otherwise; luks and offline answers checked with
 * independent HMAC, HOTP and PBKDF2 computations written here.
 */
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_A, AGENT_B, HOSTS, SSH_KEY, makeHarness, valueOf, type Harness } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await makeHarness();
  h.agents.set(AGENT_A, { agent_id: AGENT_A, ip: '10.0.0.5', port: 9002, meta_data: '{"hostname":"web1"}' });
  h.agents.set(AGENT_B, { agent_id: AGENT_B, ip: '10.0.0.6', port: 9002 });
});
afterEach(async () => h.close());

/** RFC 4226, written out independently of src/machines/otp.ts. */
function referenceHotp(key: Buffer, counter: number, digits = 6): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(code).padStart(digits, '0');
}

/** passlib's pbkdf2_sha512 check: adapted base64 ('.' for '+', no padding). */
function referencePbkdf2Verify(password: string, hash: string): boolean {
  const m = /^\$pbkdf2-sha512\$(\d+)\$([A-Za-z0-9./]+)\$([A-Za-z0-9./]+)$/.exec(hash);
  if (!m) return false;
  const decode = (s: string) => Buffer.from(s.replace(/\./g, '+'), 'base64');
  const expected = decode(m[3]!);
  return pbkdf2Sync(password, decode(m[2]!), Number(m[1]), 64, 'sha512').equals(expected);
}

describe('ssh', () => {
  beforeEach(async () => {
    valueOf(await h.call('POST', '/token/init', { json: { type: 'sshkey', sshkey: SSH_KEY, serial: 'SSH1' } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSH1', application: 'ssh', hostname: 'web1', user: 'root' } }));
  });

  it('hands out the key line while the agent passes attestation', async () => {
    const value = valueOf(await h.call('GET', '/machine/authitem/ssh?hostname=web1&user=root'));
    expect(value).toEqual({ ssh: [{ sshkey: SSH_KEY, user: 'root', serial: null }] });
    expect(valueOf(await h.call('GET', '/machine/authitem?hostname=web1&user=nobody'))).toEqual({});
  });

  it('answers 403 with the failure event and state while it does not, and grants again after recovery', async () => {
    h.verdicts.set(AGENT_A, { ok: false, eventId: 'pcr_validation.invalid_pcr_16', state: 'Invalid Quote' });
    const refused = await h.call('GET', '/machine/authitem/ssh?hostname=web1');
    expect(refused.status).toBe(403);
    expect(refused.body.result).toEqual({
      status: false,
      error: { code: 303, message: `Machine ${AGENT_A} (web1) does not pass attestation: pcr_validation.invalid_pcr_16 (status Invalid Quote).` },
    });
    expect(refused.body.detail).toMatchObject({ machine_id: AGENT_A, event_id: 'pcr_validation.invalid_pcr_16', status: 'Invalid Quote', resolver: 'keylime' });
    h.verdicts.delete(AGENT_A);
    expect(valueOf(await h.call('GET', '/machine/authitem/ssh?hostname=web1')).ssh).toHaveLength(1);
  });

  it('gates per agent: another agent failing does not shut this one out', async () => {
    h.verdicts.set(AGENT_B, { ok: false, eventId: 'ima.policy', state: 'Failed' });
    expect(valueOf(await h.call('GET', '/machine/authitem/ssh?hostname=web1')).ssh).toHaveLength(1);
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSH1', application: 'ssh', hostname: AGENT_B } }));
    expect((await h.call('GET', `/machine/authitem/ssh?hostname=${AGENT_B}`)).body.detail.event_id).toBe('ima.policy');
  });

  it('does not gate hosts-file machines (there is no TPM behind them)', async () => {
    const filename = join(h.dataDir, 'hosts');
    writeFileSync(filename, HOSTS);
    valueOf(await h.call('POST', '/machineresolver/hosts1', { json: { type: 'hosts', filename } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSH1', application: 'ssh', hostname: 'pippin' } }));
    h.verdicts.set('192.168.0.2', { ok: false, eventId: 'never.asked', state: 'Failed' });
    expect(valueOf(await h.call('GET', '/machine/authitem/ssh?hostname=pippin')).ssh).toHaveLength(1);
  });

  it('refuses unknown hostnames with 403 and requires a hostname', async () => {
    const unknown = await h.call('GET', '/machine/authitem?hostname=ghost');
    expect(unknown.status).toBe(403);
    expect(unknown.body.detail.event_id).toBe('machine.unknown');
    const missing = await h.call('GET', '/machine/authitem');
    expect(missing.status).toBe(400);
    expect(missing.body.result.error.message).toBe('ERR905: Missing parameter: hostname');
  });

  it('leaves out disabled tokens', async () => {
    valueOf(await h.call('POST', '/token/disable/SSH1'));
    expect(valueOf(await h.call('GET', '/machine/authitem?hostname=web1'))).toEqual({});
  });
});

describe('luks', () => {
  it('answers HMAC-SHA1(secret, challenge), equal to an independent computation', async () => {
    const secret = '3132333435363738393031323334353637383930';
    valueOf(await h.call('POST', '/token/init', { json: { type: 'luks', otpkey: secret, serial: 'UBOM0001' } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'UBOM0001', application: 'luks', hostname: 'web1', slot: 3, partition: '/dev/sda2' } }));
    const challenge = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const value = valueOf(await h.call('GET', `/machine/authitem/luks?hostname=web1&challenge=${challenge}`));
    const expected = createHmac('sha1', Buffer.from(secret, 'hex')).update(Buffer.from(challenge, 'hex')).digest('hex');
    expect(value.luks).toEqual([{ challenge, response: expected, slot: '3', partition: '/dev/sda2', serial: null }]);
    // The spec's vector: key 3132..3930, challenge 123456.
    const vector = valueOf(await h.call('GET', '/machine/authitem/luks?hostname=web1&challenge=123456'));
    expect(vector.luks[0].response).toBe('76d624a5fdf8d84f3d19e781f0313e48c1e69165');
    // Without a challenge one is drawn: 32 random bytes as hex, and the response fits it.
    const drawn = valueOf(await h.call('GET', '/machine/authitem/luks?hostname=web1')).luks[0];
    expect(drawn.challenge).toMatch(/^[0-9a-f]{64}$/);
    expect(drawn.response).toBe(createHmac('sha1', Buffer.from(secret, 'hex')).update(Buffer.from(drawn.challenge, 'hex')).digest('hex'));
    const odd = await h.call('GET', '/machine/authitem/luks?hostname=web1&challenge=abc');
    expect(odd.status).toBe(400);
    expect(odd.body.result.error.message).toBe('ERR905: Odd-length string');
  });
});

describe('offline', () => {
  const secret = '3132333435363738393031323334353637383930';

  beforeEach(async () => {
    valueOf(await h.call('POST', '/token/init', { json: { type: 'hotp', otpkey: secret, serial: 'OATH1' } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'OATH1', application: 'offline', hostname: 'web1', count: 5, rounds: 100 } }));
  });

  it('hands out PBKDF2-SHA512 hashes of PIN + the next `count` HOTP values, and advances the counter by count', async () => {
    const first = valueOf(await h.call('GET', '/machine/authitem/offline?hostname=web1&challenge=pin755224'));
    const item = first.offline[0];
    expect(item).toMatchObject({ count: '5', rounds: '100', serial: null });
    expect(item.refilltoken).toMatch(/^[0-9a-f]{80}$/);
    expect(Object.keys(item.response)).toEqual(['0', '1', '2', '3', '4']);
    for (const [counter, hash] of Object.entries(item.response as Record<string, string>)) {
      expect(hash).toMatch(/^\$pbkdf2-sha512\$100\$[A-Za-z0-9./]{14}\$[A-Za-z0-9./]{86}$/);
      const otp = referenceHotp(Buffer.from(secret, 'hex'), Number(counter));
      expect(referencePbkdf2Verify(`pin${otp}`, hash)).toBe(true);
      expect(referencePbkdf2Verify(`pin${referenceHotp(Buffer.from(secret, 'hex'), Number(counter) + 5)}`, hash)).toBe(false);
    }
    expect(valueOf(await h.call('GET', '/token/?serial=OATH1')).tokens[0].count).toBe(5);
    const second = valueOf(await h.call('GET', '/machine/authitem/offline?hostname=web1'));
    expect(Object.keys(second.offline[0].response)).toEqual(['5', '6', '7', '8', '9']);
    expect(referencePbkdf2Verify(referenceHotp(Buffer.from(secret, 'hex'), 7), second.offline[0].response['7'])).toBe(true);
    expect(second.offline[0].refilltoken).not.toBe(item.refilltoken);
    expect(valueOf(await h.call('GET', '/token/?serial=OATH1')).tokens[0].count).toBe(10);
  });

  it('moves no counter when attestation refuses the machine', async () => {
    h.verdicts.set(AGENT_A, { ok: false, eventId: 'pcr_validation.invalid_pcr_7', state: 'Failed' });
    expect((await h.call('GET', '/machine/authitem/offline?hostname=web1')).status).toBe(403);
    expect(valueOf(await h.call('GET', '/token/?serial=OATH1')).tokens[0].count).toBe(0);
  });

  it('refills through /validate/offlinerefill with the last refill token and a valid OTP', async () => {
    const key = Buffer.from(secret, 'hex');
    const item = valueOf(await h.call('GET', '/machine/authitem/offline?hostname=web1')).offline[0];
    // The machine used OTPs 0..2 offline; presenting OTP 2 refills three more.
    const refill = await h.call('POST', '/validate/offlinerefill', { json: { serial: 'OATH1', refilltoken: item.refilltoken, pass: referenceHotp(key, 2) } });
    expect(valueOf(refill)).toBe(true);
    const auth = refill.body.auth_items.offline[0];
    expect(Object.keys(auth.response)).toEqual(['5', '6', '7']);
    expect(referencePbkdf2Verify(referenceHotp(key, 6), auth.response['6'])).toBe(true);
    const stale = await h.call('POST', '/validate/offlinerefill', { json: { serial: 'OATH1', refilltoken: item.refilltoken, pass: referenceHotp(key, 3) } });
    expect(stale.status).toBe(400);
    expect(stale.body.result.error.message).toBe('ERR905: Token is not an offline token or refill token is incorrect');
  });
});
