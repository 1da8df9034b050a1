import { describe, expect, it } from 'vitest';
import { enrollToken, generateSerial, parseSshPublicKey, sshKeyLine, tokenView } from '../../../src/machines/index.js';
import { tokenSecret } from '../../../src/machines/tokens.js';
import { SSH_KEY, makeFixture, piFailure, seededRandom } from './fixture.js';

describe('serial generation', () => {
  it('is prefix + 4-digit token count + uppercase hex, 8 characters after the prefix', async () => {
    const serial = await generateSerial('hotp', { countOfType: 7, exists: () => false, randomBytes: seededRandom('s') });
    expect(serial).toMatch(/^OATH0007[0-9A-F]{4}$/);
    expect(await generateSerial('sshkey', { countOfType: 0, exists: () => false })).toMatch(/^SSHK0000[0-9A-F]{4}$/);
    expect(await generateSerial('totp', { countOfType: 12345, exists: () => false })).toMatch(/^TOTP12345[0-9A-F]{3}$/);
    expect(await generateSerial('totp', { countOfType: 1, exists: () => false, prefix: 'UBOM' })).toMatch(/^UBOM0001[0-9A-F]{4}$/);
    expect(await generateSerial('weird', { countOfType: 0, exists: () => false })).toMatch(/^WEIRD0000/);
  });

  it('moves on past taken serials', async () => {
    const taken = new Set<string>();
    const random = () => Buffer.from('abcd', 'hex');
    taken.add('OATH0000ABCD');
    expect(await generateSerial('hotp', { countOfType: 0, exists: (s) => taken.has(s), randomBytes: random })).toBe('OATH0001ABCD');
  });
});

describe('ssh public keys', () => {
  it('splits on the first two spaces and reassembles byte-identically', () => {
    expect(parseSshPublicKey('ssh-rsa AAAA my comment  with spaces')).toEqual({ type: 'ssh-rsa', key: 'AAAA', comment: 'my comment  with spaces' });
    expect(parseSshPublicKey('ssh-ed25519 AAAA')).toEqual({ type: 'ssh-ed25519', key: 'AAAA', comment: '' });
  });

  it('refuses unsupported types and a missing key', () => {
    expect(() => parseSshPublicKey('ssh-dss AAAA')).toThrow(expect.objectContaining({ message: 'ERR905: The keytype you specified is not supported.' }));
    expect(() => parseSshPublicKey('ssh-rsa')).toThrow(expect.objectContaining({ message: 'ERR905: Missing key.' }));
    expect(() => parseSshPublicKey('ssh-rsa ')).toThrow(expect.objectContaining({ message: 'ERR905: Missing key.' }));
  });
});

describe('token enrolment', () => {
  it('sshkey: stores type, key and comment; the line round-trips', async () => {
    const fx = makeFixture();
    const { token } = await enrollToken(fx.ctx, { type: 'sshkey', sshkey: SSH_KEY });
    expect(token.serial).toMatch(/^SSHK0000[0-9A-F]{4}$/);
    expect(sshKeyLine(token)).toBe(SSH_KEY);
    expect(token.secret).toBeNull();
  });

  it('hotp: seals the given key, which opens back to the same bytes', async () => {
    const fx = makeFixture();
    const { token, generatedKey } = await enrollToken(fx.ctx, { type: 'hotp', otpkey: '3132', owner: 'hans' });
    expect(generatedKey).toBeUndefined();
    expect(JSON.stringify(token)).not.toContain('3132');
    expect(tokenSecret(fx.ctx, token).toString('hex')).toBe('3132');
    expect(token).toMatchObject({ tokentype: 'hotp', active: true, owner: 'hans', otplen: 6, count: 0, countWindow: 10, info: { hashlib: 'sha1' } });
  });

  it('generates keys sized for the hash, and luks tokens get a UBOM serial', async () => {
    const fx = makeFixture();
    const a = await enrollToken(fx.ctx, { type: 'totp', hashlib: 'sha256', timeStep: 60 });
    expect(a.generatedKey).toMatch(/^[0-9a-f]{64}$/);
    expect(a.token.info).toEqual({ hashlib: 'sha256', timeStep: '60' });
    const b = await enrollToken(fx.ctx, { type: 'luks' });
    expect(b.token.serial).toMatch(/^UBOM\d{4}[0-9A-F]{4}$/);
    expect(b.token.tokentype).toBe('totp');
    expect(b.generatedKey).toMatch(/^[0-9a-f]{40}$/);
  });

  it('refuses duplicates and bad input with 400 KeylimeErrors', async () => {
    const fx = makeFixture();
    await enrollToken(fx.ctx, { type: 'spass', serial: 'S1' });
    const bad: Array<Parameters<typeof enrollToken>[1]> = [
      { type: 'spass', serial: 'S1' },
      { type: 'hotp', otpkey: 'xyz' },
      { type: 'hotp', otpkey: '' },
      { type: 'hotp', hashlib: 'md5' },
      { type: 'hotp', otplen: 0 },
      { type: 'totp', timeStep: 0 },
      { type: 'luks', serial: 'NOTUBOM' },
      { type: 'sshkey' },
      { type: 'spass', serial: 'has space' },
      { type: 'webauthn' as never },
    ];
    for (const input of bad) expect(await piFailure(enrollToken(fx.ctx, input)), JSON.stringify(input)).toMatchObject({ status: 400 });
  });

  it('views never carry secrets or refill tokens', async () => {
    const fx = makeFixture();
    const { token } = await enrollToken(fx.ctx, { type: 'hotp' });
    const view = tokenView({ ...token, info: { ...token.info, refilltoken: 'r' } });
    expect(view).not.toHaveProperty('secret');
    expect(view.info).toEqual({ hashlib: 'sha1' });
  });
});
