import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatSecretKeyFile, generateSecretKey, openSecret, parseSecretKeyFile, sealSecret } from '../../../src/machines/index.js';

const key = Buffer.alloc(32, 0x42);

describe('token secrets at rest (AES-256-GCM)', () => {
  it('round-trips and is real AES-256-GCM with the context as AAD', () => {
    const plain = Buffer.from('3132333435363738393031323334353637383930', 'hex');
    const sealed = sealSecret(plain, key, 'ctx');
    expect(sealed.alg).toBe('aes-256-gcm');
    expect(openSecret(sealed, key, 'ctx')).toEqual(plain);
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    d.setAAD(Buffer.from('ctx'));
    d.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    expect(Buffer.concat([d.update(Buffer.from(sealed.data, 'base64')), d.final()])).toEqual(plain);
    expect(sealed.data).not.toContain(plain.toString('base64'));
  });

  it('uses a fresh nonce each time', () => {
    const a = sealSecret(Buffer.from('x'), key);
    const b = sealSecret(Buffer.from('x'), key);
    expect(a.iv).not.toBe(b.iv);
  });

  it('refuses a wrong key, a wrong context, tampering and junk with KeylimeError', () => {
    const sealed = sealSecret(Buffer.from('secret'), key, 'serial-1');
    const attempts: Array<() => unknown> = [
      () => openSecret(sealed, Buffer.alloc(32, 1), 'serial-1'),
      () => openSecret(sealed, key, 'serial-2'),
      () => openSecret({ ...sealed, data: Buffer.from('sedret').toString('base64') }, key, 'serial-1'),
      () => openSecret({ ...sealed, tag: Buffer.alloc(16).toString('base64') }, key, 'serial-1'),
      () => openSecret({ ...sealed, iv: 'AAAA' }, key, 'serial-1'),
      () => openSecret({ ...sealed, iv: 42 }, key, 'serial-1'),
      () => openSecret(null, key),
      () => openSecret('junk', key),
      () => openSecret(sealed, Buffer.alloc(16), 'serial-1'),
      () => sealSecret(Buffer.from('x'), Buffer.alloc(31)),
    ];
    for (const attempt of attempts) expect(attempt).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
  });

  it('reads and writes the key file as 64 hex characters', () => {
    const k = generateSecretKey();
    expect(k).toHaveLength(32);
    expect(parseSecretKeyFile(formatSecretKeyFile(k))).toEqual(k);
    expect(parseSecretKeyFile(`  ${'ab'.repeat(32)}\n`)).toEqual(Buffer.alloc(32, 0xab));
    for (const bad of ['', 'ab'.repeat(31), 'zz'.repeat(32), 'ab'.repeat(33)]) {
      expect(() => parseSecretKeyFile(bad)).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
    }
  });
});
