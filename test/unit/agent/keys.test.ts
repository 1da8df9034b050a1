import { constants, createHmac, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BootstrapKeys, parseUKey, parseVKey } from '../../../src/servers/agent/keys.js';

const ID = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';
const { privateKey: nk, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const wrap = (b: Buffer) => publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, b).toString('base64');
const tagFor = (k: Buffer, id = ID) => Buffer.from(createHmac('sha384', k).update(id).digest('hex'), 'hex');

function halves(k: Buffer) {
  const v = randomBytes(k.length);
  return { u: Buffer.from(k.map((b, i) => b ^ v[i]!)), v };
}

describe('bootstrap key K = U xor V', () => {
  it('matches the §14 vectors: ukey auth_tag and /keys/verify HMAC for K = 00..1f', () => {
    const k = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(tagFor(k).toString('hex')).toBe('74216909e21c5a1a5fb9e0ad23881f6f1693d01b5469c4d12dfe4ea151ab3334690966790c8e3b4a358b1be3ca443e2d');
    const { u, v } = halves(k);
    const keys = new BootstrapKeys(ID);
    expect(keys.challengeHmac('x')).toBeUndefined();
    expect(keys.addU({ key: u, authTag: tagFor(k), payload: undefined })).toBeUndefined();
    expect(keys.addV(v)?.key.equals(k)).toBe(true);
    expect(keys.challengeHmac('1234567890ABCDEFHIJK')).toBe(
      'f9540061792bf71ae1493bc6ba7c32125f98eae91ef24a2c5d60ef30c3997a07bf4f16ed4ef069378b0ba58c895ace76',
    );
  });

  it('pairs the right U with the right V among stale ones, in either order, 16-byte keys too', () => {
    const keys = new BootstrapKeys(ID);
    const k = randomBytes(16);
    const { u, v } = halves(k);
    keys.addV(randomBytes(16));
    keys.addV(v);
    keys.addU({ key: randomBytes(32), authTag: tagFor(randomBytes(32)), payload: undefined });
    const payload = Buffer.from('p');
    expect(keys.addU({ key: u, authTag: tagFor(k), payload })).toEqual({ key: k, payload });
    expect(keys.key!.equals(k)).toBe(true);
  });

  it('never accepts a pair whose HMAC is not the auth_tag (wrong id, wrong tag)', () => {
    const keys = new BootstrapKeys(ID);
    const k = randomBytes(32);
    const { u, v } = halves(k);
    expect(keys.addU({ key: u, authTag: tagFor(k, 'other-agent'), payload: undefined })).toBeUndefined();
    expect(keys.addV(v)).toBeUndefined();
    expect(keys.key).toBeUndefined();
  });

  it('parses ukey/vkey bodies: OAEP-SHA1 under the NK, hex auth_tag of 48 bytes, optional payload', () => {
    const k = randomBytes(32);
    const parsed = parseUKey(nk, { auth_tag: tagFor(k).toString('hex').toUpperCase(), encrypted_key: wrap(k), payload: 'AAAA' });
    expect(parsed.key.equals(k)).toBe(true);
    expect(parsed.authTag.equals(tagFor(k))).toBe(true);
    expect(parsed.payload).toEqual(Buffer.from([0, 0, 0]));
    expect(parseUKey(nk, { auth_tag: tagFor(k).toString('hex'), encrypted_key: wrap(k), payload: '' }).payload).toBeUndefined();
    expect(parseVKey(nk, { encrypted_key: wrap(k) }).equals(k)).toBe(true);
    // PKCS#1 v1.5 or OAEP-SHA256 wrapped keys are not what Keylime sends.
    const sha256 = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, k).toString('base64');
    expect(() => parseVKey(nk, { encrypted_key: sha256 })).toThrow(/^Failed to decrypt encrypted_key/);
    expect(() => parseVKey(nk, { encrypted_key: 12 })).toThrow("Field 'encrypted_key' must be a string");
    expect(() => parseVKey(nk, null)).toThrow('Request body must be a JSON object');
    expect(() => parseUKey(nk, { auth_tag: 'ab'.repeat(47), encrypted_key: wrap(k) })).toThrow(/^Invalid auth_tag length: 47 bytes/);
  });
});
