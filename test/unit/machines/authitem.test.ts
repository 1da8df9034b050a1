import { createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  attachToken,
  authorizedKeysText,
  getAuthItems,
  offlineAuthItemsAfterValidation,
  paramsOf,
  setMachineResolver,
  setTokenActive,
  type AttestationGate,
  type MachineContext,
} from '../../../src/machines/index.js';
import { SSH_KEY, addHostsResolver, addToken, makeFixture, piFailure, type Fixture } from './fixture.js';

const RFC_KEY_HEX = Buffer.from('12345678901234567890').toString('hex');
const RFC_HOTP = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

const attach = (fx: Fixture, p: Record<string, unknown>) => attachToken(fx.ctx, paramsOf(p));
const items = (ctx: MachineContext, p: Record<string, unknown>, app?: string) => getAuthItems(ctx, paramsOf(p), app);

/** passlib's ab64 decoding, written independently of the module under test. */
function ab64Decode(text: string): Buffer {
  return Buffer.from(text.split('.').join('+'), 'base64');
}

/** Verifies a passlib pbkdf2-sha512 hash with node:crypto directly. */
function passlibVerify(password: string, hash: string): boolean {
  const [empty, scheme, rounds, salt, checksum] = hash.split('$');
  if (empty !== '' || scheme !== 'pbkdf2-sha512') return false;
  const derived = pbkdf2Sync(Buffer.from(password, 'utf8'), ab64Decode(salt!), Number(rounds), 64, 'sha512');
  return derived.equals(ab64Decode(checksum!));
}

async function base(): Promise<Fixture> {
  const fx = makeFixture();
  await addHostsResolver(fx);
  return fx;
}

describe('GET /machine/authitem (§2.6)', () => {
  it('requires hostname, even with a service_id', async () => {
    const fx = await base();
    expect(await piFailure(items(fx.ctx, { service_id: 'x' }))).toMatchObject({ status: 400, code: 905, message: 'ERR905: Missing parameter: hostname' });
  });

  it('500s an unknown hostname without service_id and returns {} for a machine without bindings', async () => {
    const fx = await base();
    expect(await piFailure(items(fx.ctx, { hostname: 'frodo' }))).toMatchObject({ status: 500 });
    expect(await items(fx.ctx, { hostname: 'gandalf' })).toEqual({});
  });
});

describe('ssh application (§4.2)', () => {
  async function sshFixture(): Promise<Fixture> {
    const fx = await base();
    await addToken(fx, { type: 'sshkey', serial: 'SSHKEY1', sshkey: SSH_KEY, owner: 'cornelius' });
    await addToken(fx, { type: 'sshkey', serial: 'SSHKEY2', sshkey: 'ssh-rsa AAAAB3Nza' });
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf', user: 'root' });
    await attach(fx, { serial: 'SSHKEY2', application: 'ssh', hostname: 'gandalf', user: 'admin' });
    await attach(fx, { serial: 'SSHKEY2', application: 'ssh', machineid: 0, resolver: '', service_id: 'web', user: 'www' });
    return fx;
  }

  it('returns the key lines with options overlaid, username from the owner, serial null', async () => {
    const fx = await sshFixture();
    expect(await items(fx.ctx, { hostname: 'gandalf' })).toEqual({
      ssh: [
        { sshkey: SSH_KEY, username: 'cornelius', user: 'root', serial: null },
        { sshkey: 'ssh-rsa AAAAB3Nza', user: 'admin', serial: null },
      ],
    });
  });

  it('applies the user filter twice: list filter (wildcards) then exact check', async () => {
    const fx = await sshFixture();
    expect((await items(fx.ctx, { hostname: 'gandalf', user: 'root' })).ssh).toHaveLength(1);
    // The list filter lets ro* through, but the ssh application wants equality.
    expect(await items(fx.ctx, { hostname: 'gandalf', user: 'ro*' })).toEqual({});
    expect(await items(fx.ctx, { hostname: 'gandalf', user: 'nobody' })).toEqual({});
  });

  it('skips disabled tokens', async () => {
    const fx = await sshFixture();
    await setTokenActive(fx.ctx, 'SSHKEY1', false);
    expect((await items(fx.ctx, { hostname: 'gandalf' })).ssh).toEqual([{ sshkey: 'ssh-rsa AAAAB3Nza', user: 'admin', serial: null }]);
  });

  it('service_id selects bound and unbound rows without resolving the hostname', async () => {
    const fx = await sshFixture();
    expect(await items(fx.ctx, { hostname: 'does-not-exist', service_id: 'web' })).toEqual({
      ssh: [{ sshkey: 'ssh-rsa AAAAB3Nza', service_id: 'web', user: 'www', serial: null }],
    });
  });

  it('stray parameters such as nonce act as option filters', async () => {
    const fx = await sshFixture();
    expect(await items(fx.ctx, { hostname: 'gandalf', nonce: '123' })).toEqual({});
  });

  it('renders authorized_keys lines', async () => {
    const fx = await sshFixture();
    const value = await items(fx.ctx, { hostname: 'gandalf' }, 'ssh');
    expect(authorizedKeysText(value.ssh!)).toBe(`${SSH_KEY}\nssh-rsa AAAAB3Nza\n`);
  });
});

describe('luks application (§4.3)', () => {
  async function luksFixture(key = '12345678', hashlib?: string): Promise<Fixture> {
    const fx = await base();
    await addToken(fx, { type: 'luks', serial: 'UBOM0001', otpkey: key, hashlib });
    await attach(fx, { serial: 'UBOM0001', application: 'luks', hostname: 'gandalf', slot: '1', partition: '/dev/sda1' });
    return fx;
  }

  it('answers the spec vectors: HMAC-SHA1(secret, hex challenge)', async () => {
    let fx = await luksFixture('12345678');
    expect((await items(fx.ctx, { hostname: 'gandalf', challenge: 'abcdef' })).luks).toEqual([
      { challenge: 'abcdef', response: '93235fc7d1d444d0ec014ea9eafcc44fc65b73eb', slot: '1', partition: '/dev/sda1', serial: null },
    ]);
    fx = await luksFixture('3132333435363738393031323334353637383930');
    expect((await items(fx.ctx, { hostname: 'gandalf', challenge: '123456' })).luks![0]!.response).toBe('76d624a5fdf8d84f3d19e781f0313e48c1e69165');
  });

  it('makes a 32-byte challenge when none is given, and the response matches an independent HMAC', async () => {
    const fx = await luksFixture('0a0b0c0d');
    const [item] = (await items(fx.ctx, { hostname: 'gandalf' })).luks!;
    expect(item!.challenge).toMatch(/^[0-9a-f]{64}$/);
    const expected = createHmac('sha1', Buffer.from('0a0b0c0d', 'hex')).update(Buffer.from(item!.challenge as string, 'hex')).digest('hex');
    expect(item!.response).toBe(expected);
  });

  it("uses the token's hashlib", async () => {
    const fx = await luksFixture('00ff', 'sha256');
    const [item] = (await items(fx.ctx, { hostname: 'gandalf', challenge: 'ABCDEF' })).luks!;
    expect(item!.response).toBe(createHmac('sha256', Buffer.from('00ff', 'hex')).update(Buffer.from('abcdef', 'hex')).digest('hex'));
  });

  it('an empty challenge falls through to the HMAC of the time counter', async () => {
    const fx = await luksFixture('12345678');
    const [item] = (await items(fx.ctx, { hostname: 'gandalf', challenge: '' })).luks!;
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(Math.floor(1_700_000_000 / 30)));
    expect(item).toMatchObject({ challenge: '', response: createHmac('sha1', Buffer.from('12345678', 'hex')).update(counter).digest('hex') });
  });

  it('a disabled token still gives its challenge, without response', async () => {
    const fx = await luksFixture();
    await setTokenActive(fx.ctx, 'UBOM0001', false);
    expect((await items(fx.ctx, { hostname: 'gandalf', challenge: 'abcdef' })).luks).toEqual([
      { challenge: 'abcdef', slot: '1', partition: '/dev/sda1', serial: null },
    ]);
  });

  it('ignores totp tokens without the UBOM prefix and non-totp tokens', async () => {
    const fx = await base();
    await addToken(fx, { type: 'totp', serial: 'TOTP0001', otpkey: '12345678' });
    await addToken(fx, { type: 'hotp', serial: 'UBOM0002', otpkey: '12345678' });
    await attach(fx, { serial: 'TOTP0001', application: 'luks', hostname: 'gandalf' });
    await attach(fx, { serial: 'UBOM0002', application: 'luks', hostname: 'gandalf' });
    expect(await items(fx.ctx, { hostname: 'gandalf', challenge: 'ab' })).toEqual({});
  });

  it('500s a challenge that is not hex', async () => {
    const fx = await luksFixture();
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf', challenge: 'xyz1' }))).toMatchObject({ status: 500 });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf', challenge: 'abc' }))).toMatchObject({ status: 500 });
  });
});

describe('offline application (§4.4)', () => {
  async function offlineFixture(options: Record<string, unknown> = { rounds: '5' }, owner?: string): Promise<Fixture> {
    const fx = await base();
    await addToken(fx, { type: 'hotp', serial: 'OATH0001', otpkey: RFC_KEY_HEX, owner });
    await attach(fx, { serial: 'OATH0001', application: 'offline', hostname: 'gandalf', ...options });
    return fx;
  }
  const token = (fx: Fixture) => fx.repo.data.tokens[0]!;

  it('hashes the next `count` OTPs with the PIN prepended; the counter advances by count', async () => {
    const fx = await offlineFixture({ count: '4', rounds: '5' }, 'hans');
    const value = await items(fx.ctx, { hostname: 'gandalf', challenge: 'test287082' });
    const [item] = value.offline!;
    expect(Object.keys(item!).sort()).toEqual(['count', 'refilltoken', 'response', 'rounds', 'serial', 'user', 'username']);
    expect(item).toMatchObject({ user: 'hans', username: 'hans', count: '4', rounds: '5', serial: null });
    expect(item!.refilltoken).toMatch(/^[0-9a-f]{80}$/);
    expect(token(fx).info.refilltoken).toBe(item!.refilltoken);
    const response = item!.response as Record<string, string>;
    expect(Object.keys(response)).toEqual(['0', '1', '2', '3']);
    for (const [counter, hash] of Object.entries(response)) {
      expect(hash).toMatch(/^\$pbkdf2-sha512\$5\$[A-Za-z0-9./]{14}\$[A-Za-z0-9./]{86}$/);
      expect(passlibVerify(`test${RFC_HOTP[Number(counter)]}`, hash), counter).toBe(true);
      expect(passlibVerify(RFC_HOTP[Number(counter)]!, hash)).toBe(false);
    }
    expect(token(fx).count).toBe(4);
    const again = (await items(fx.ctx, { hostname: 'gandalf' })).offline![0]!;
    expect(Object.keys(again.response as object)).toEqual(['4', '5', '6', '7']);
    expect(passlibVerify(RFC_HOTP[4]!, (again.response as Record<string, string>)['4']!)).toBe(true);
    expect(again.refilltoken).not.toBe(item!.refilltoken);
    expect(token(fx).count).toBe(8);
  });

  it('defaults to 100 values at 6549 rounds (121-character hashes)', async () => {
    const fx = await offlineFixture({});
    const response = (await items(fx.ctx, { hostname: 'gandalf' })).offline![0]!.response as Record<string, string>;
    expect(Object.keys(response)).toHaveLength(100);
    expect(response['99']!.startsWith('$pbkdf2-sha512$6549$')).toBe(true);
    expect(response['0']).toHaveLength(121);
    expect(passlibVerify(RFC_HOTP[9]!, response['9']!)).toBe(true);
    expect(token(fx).count).toBe(100);
  }, 30_000);

  it('appends the PIN when PrependPin is off', async () => {
    const fx = await offlineFixture({ count: '1', rounds: '3' });
    const ctx = { ...fx.ctx, prependPin: false };
    const response = (await items(ctx, { hostname: 'gandalf', challenge: '755224pin' })).offline![0]!.response as Record<string, string>;
    expect(passlibVerify('755224pin', response['0']!)).toBe(true);
  });

  it('count 0 gives an empty response and keeps the counter', async () => {
    const fx = await offlineFixture({ count: '0' });
    expect((await items(fx.ctx, { hostname: 'gandalf' })).offline![0]!.response).toEqual({});
    expect(token(fx).count).toBe(0);
  });

  it('refuses negative counts (400), non-numeric options (500), short passwords (400)', async () => {
    let fx = await offlineFixture({ count: '-1' });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf' }))).toMatchObject({ status: 400, code: 905, message: 'ERR905: Invalid refill amount: -1' });
    fx = await offlineFixture({ count: 'ten' });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf' }))).toMatchObject({ status: 500 });
    fx = await offlineFixture({ rounds: '0' });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf' }))).toMatchObject({ status: 500 });
    fx = await offlineFixture({ count: '2', rounds: '2' });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf', challenge: '12345' }))).toMatchObject({
      status: 400,
      message: 'ERR905: Could not split password',
    });
    // The refill token was rotated before the split failed; the counter was not touched.
    expect(token(fx).info.refilltoken).toMatch(/^[0-9a-f]{80}$/);
    expect(token(fx).count).toBe(0);
  });

  it('bounds the work of one request', async () => {
    const fx = await offlineFixture({ count: '1000000', rounds: '1' });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf' }))).toMatchObject({ status: 400 });
    expect(token(fx).count).toBe(0);
  });

  it('never hands out the same counters to concurrent requests', async () => {
    const fx = await offlineFixture({ count: '3', rounds: '2' });
    const [a, b] = await Promise.all([items(fx.ctx, { hostname: 'gandalf' }), items(fx.ctx, { hostname: 'gandalf' })]);
    const keys = [...Object.keys(a.offline![0]!.response as object), ...Object.keys(b.offline![0]!.response as object)].sort();
    expect(keys).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(token(fx).count).toBe(6);
  });

  it('the /validate/check hook covers all offline bindings of the token and swallows errors', async () => {
    const fx = await offlineFixture({ count: '2', rounds: '2' });
    await attach(fx, { serial: 'OATH0001', application: 'offline', machineid: 0, resolver: '', count: '1', rounds: '2' });
    const hook = await offlineAuthItemsAfterValidation(fx.ctx, 'OATH0001', 'pin755224');
    expect(hook!.offline).toHaveLength(2);
    expect(hook!.offline.map((i) => i.serial)).toEqual(['OATH0001', 'OATH0001']);
    expect(Object.keys(hook!.offline[1]!.response as object)).toEqual(['2']);
    expect(token(fx).info.refilltoken).toBe(hook!.offline[1]!.refilltoken); // only the last survives
    expect(await offlineAuthItemsAfterValidation(fx.ctx, 'OATH0001', '1')).toBeUndefined();
    expect(await offlineAuthItemsAfterValidation(fx.ctx, 'NOPE', 'x')).toBeUndefined();
  });
});

describe('authitem across applications', () => {
  it('groups by application, filters by the path application, and 500s on a base binding', async () => {
    const fx = await base();
    await addToken(fx, { type: 'sshkey', serial: 'SSHK1', sshkey: SSH_KEY });
    await addToken(fx, { type: 'luks', serial: 'UBOM1', otpkey: '12345678' });
    await attach(fx, { serial: 'SSHK1', application: 'ssh', hostname: 'gandalf' });
    await attach(fx, { serial: 'UBOM1', application: 'luks', hostname: 'gandalf', slot: '0' });
    const all = await items(fx.ctx, { hostname: 'gandalf', challenge: 'aa' });
    expect(Object.keys(all).sort()).toEqual(['luks', 'ssh']);
    expect(Object.keys(await items(fx.ctx, { hostname: 'gandalf', challenge: 'aa' }, 'luks'))).toEqual(['luks']);
    expect(await items(fx.ctx, { hostname: 'gandalf' }, 'offline')).toEqual({});
    await attach(fx, { serial: 'SSHK1', application: 'base', hostname: 'gandalf' });
    expect(await piFailure(items(fx.ctx, { hostname: 'gandalf' }))).toMatchObject({ status: 500, code: -500 });
  });

  it('binding options overwrite computed keys', async () => {
    const fx = await base();
    await addToken(fx, { type: 'sshkey', serial: 'SSHK1', sshkey: SSH_KEY });
    await attach(fx, { serial: 'SSHK1', application: 'ssh', hostname: 'gandalf', sshkey: 'overwritten' });
    expect((await items(fx.ctx, { hostname: 'gandalf' })).ssh).toEqual([{ sshkey: 'overwritten', serial: null }]);
  });
});

describe('attestation gate', () => {
  const AGENT = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';

  async function gated(gate: AttestationGate): Promise<Fixture> {
    const fx = makeFixture({});
    fx.ctx.attestationGate = gate;
    fx.agents.push({ agentId: AGENT, ip: '127.0.0.1', hostname: 'node1' });
    await setMachineResolver(fx.ctx, 'keylime', paramsOf({ type: 'keylime' }));
    await addToken(fx, { type: 'hotp', serial: 'OATH1', otpkey: RFC_KEY_HEX });
    await addToken(fx, { type: 'sshkey', serial: 'SSHK1', sshkey: SSH_KEY });
    await attach(fx, { serial: 'OATH1', application: 'offline', hostname: 'node1', count: '2', rounds: '2' });
    await attach(fx, { serial: 'SSHK1', application: 'ssh', hostname: 'node1' });
    return fx;
  }

  it('hands out items to a machine that passes, asking about the agent UUID', async () => {
    const asked: string[] = [];
    const fx = await gated((id, machine) => {
      asked.push(`${id}/${machine.resolverName}/${machine.resolverType}/${machine.hostname}`);
      return { ok: true };
    });
    const value = await items(fx.ctx, { hostname: 'node1' });
    expect(Object.keys(value).sort()).toEqual(['offline', 'ssh']);
    expect(asked).toEqual([`${AGENT}/keylime/keylime/node1`]);
  });

  it('refuses with 403 naming the failing event, before any counter moves', async () => {
    const fx = await gated(async () => ({ ok: false, eventId: 'pcr_validation.invalid_pcr_16', status: 'Invalid Quote' }));
    const failure = await piFailure(items(fx.ctx, { hostname: 'node1' }));
    expect(failure.status).toBe(403);
    expect(failure.code).toBe(303);
    expect(failure.message).toContain('pcr_validation.invalid_pcr_16');
    expect(failure.detail).toEqual({
      machine_id: AGENT,
      hostname: 'node1',
      resolver: 'keylime',
      event_id: 'pcr_validation.invalid_pcr_16',
      status: 'Invalid Quote',
    });
    expect(fx.repo.data.tokens[0]!.count).toBe(0);
    expect(fx.repo.data.tokens[0]!.info.refilltoken).toBeUndefined();
  });

  it('refuses hosts it cannot identify, even with a service_id', async () => {
    const fx = await gated(() => ({ ok: true }));
    expect(await piFailure(items(fx.ctx, { hostname: 'stranger', service_id: 'web' }))).toMatchObject({ status: 403, detail: { event_id: 'machine.unknown' } });
  });

  it('fails closed when the gate itself fails', async () => {
    const fx = await gated(() => {
      throw new Error('verifier down');
    });
    expect(await piFailure(items(fx.ctx, { hostname: 'node1' }))).toMatchObject({ status: 500 });
    expect(fx.repo.data.tokens[0]!.count).toBe(0);
  });
});
