import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attachToken, getAuthItems, offlineRefill, paramsOf, setTokenActive } from '../../../src/machines/index.js';
import { addHostsResolver, addToken, makeFixture, piFailure, type Fixture } from './fixture.js';

const RFC_HOTP = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489', '403154', '481090', '868912', '736127'];

function verifies(password: string, hash: string): boolean {
  const [, , rounds, salt, checksum] = hash.split('$');
  const dec = (s: string) => Buffer.from(s.split('.').join('+'), 'base64');
  return pbkdf2Sync(password, dec(salt!), Number(rounds), 64, 'sha512').equals(dec(checksum!));
}

async function issued(count = 10): Promise<{ fx: Fixture; refilltoken: string }> {
  const fx = makeFixture();
  await addHostsResolver(fx);
  await addToken(fx, { type: 'hotp', serial: 'OATH0001', otpkey: Buffer.from('12345678901234567890').toString('hex') });
  await attachToken(fx.ctx, paramsOf({ serial: 'OATH0001', application: 'offline', hostname: 'gandalf', count: String(count), rounds: '3' }));
  const value = await getAuthItems(fx.ctx, paramsOf({ hostname: 'gandalf' }));
  return { fx, refilltoken: value.offline![0]!.refilltoken as string };
}

const token = (fx: Fixture) => fx.repo.data.tokens[0]!;

describe('POST /validate/offlinerefill (§4.4)', () => {
  it('hands out as many new values as the client consumed and rotates the refill token', async () => {
    const { fx, refilltoken } = await issued(10);
    expect(token(fx).count).toBe(10);
    // The client used the OTP of counter 3 (its 4th value): 4 new ones, counters 10..13.
    const answer = await offlineRefill(fx.ctx, paramsOf({ serial: 'OATH0001', refilltoken, pass: `pin${RFC_HOTP[3]}` }));
    expect(answer.value).toBe(true);
    const [entry] = answer.auth_items.offline;
    expect(entry!.serial).toBe('OATH0001');
    expect(Object.keys(entry!.response)).toEqual(['10', '11', '12', '13']);
    expect(verifies(`pin${RFC_HOTP[10]}`, entry!.response['10']!)).toBe(true);
    expect(verifies(`pin${RFC_HOTP[13]}`, entry!.response['13']!)).toBe(true);
    expect(token(fx).count).toBe(14);
    expect(token(fx).info.offline_counter).toBe('10');
    expect(entry!.refilltoken).toMatch(/^[0-9a-f]{80}$/);
    expect(entry!.refilltoken).not.toBe(refilltoken);
    expect(token(fx).info.refilltoken).toBe(entry!.refilltoken);
    // The old refill token is spent.
    expect(await piFailure(offlineRefill(fx.ctx, paramsOf({ serial: 'OATH0001', refilltoken, pass: RFC_HOTP[4] })))).toMatchObject({
      status: 400,
      message: 'ERR905: Token is not an offline token or refill token is incorrect',
    });
  });

  it('searches only the last `count` counters: wrong OTP is ERR401, state unchanged', async () => {
    const { fx, refilltoken } = await issued(10);
    // Counter 10 has not been issued yet.
    const failure = await piFailure(offlineRefill(fx.ctx, paramsOf({ serial: 'OATH0001', refilltoken, pass: RFC_HOTP[10] })));
    expect(failure).toMatchObject({ status: 400, code: 401, message: 'ERR401: You provided a wrong OTP value.' });
    expect(token(fx).count).toBe(10);
    expect(token(fx).info.refilltoken).toBe(refilltoken);
  });

  it('a refill with the newest value refills all of them', async () => {
    const { fx, refilltoken } = await issued(3);
    const answer = await offlineRefill(fx.ctx, paramsOf({ serial: 'OATH0001', refilltoken, pass: RFC_HOTP[2] }));
    expect(Object.keys(answer.auth_items.offline[0]!.response)).toEqual(['3', '4', '5']);
  });

  it('validates parameters, existence, activity and binding', async () => {
    const { fx, refilltoken } = await issued(2);
    const refill = (p: Record<string, unknown>) => piFailure(offlineRefill(fx.ctx, paramsOf(p)));
    expect(await refill({ refilltoken, pass: 'x' })).toMatchObject({ message: 'ERR905: Missing parameter: serial' });
    expect(await refill({ serial: 'OATH0001', pass: 'x' })).toMatchObject({ message: 'ERR905: Missing parameter: refilltoken' });
    expect(await refill({ serial: 'OATH0001', refilltoken })).toMatchObject({ message: 'ERR905: Missing parameter: pass' });
    expect(await refill({ serial: 'OATH0001', refilltoken, pass: '' })).toMatchObject({ message: 'ERR905: Could not split password' });
    expect(await refill({ serial: 'NOPE', refilltoken, pass: 'x' })).toMatchObject({ message: 'ERR905: The token does not exist' });
    await addToken(fx, { type: 'hotp', serial: 'OATH0002', otpkey: '00' });
    expect(await refill({ serial: 'OATH0002', refilltoken, pass: '123456' })).toMatchObject({
      message: 'ERR905: Token is not an offline token or refill token is incorrect',
    });
    await setTokenActive(fx.ctx, 'OATH0001', false);
    expect(await refill({ serial: 'OATH0001', refilltoken, pass: RFC_HOTP[0] })).toMatchObject({ message: 'ERR905: The token is not valid.' });
  });

  it('hides the reason when the policy says so', async () => {
    const { fx } = await issued(2);
    const ctx = { ...fx.ctx, hideOfflineRefillErrors: true };
    expect(await piFailure(offlineRefill(ctx, paramsOf({ serial: 'OATH0001', refilltoken: 'bad', pass: '123456' })))).toMatchObject({
      status: 400,
      code: 401,
      message: 'ERR401: Failed offline token refill',
    });
  });
});
