import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ab64Decode, ab64Encode, pbkdf2Sha512Hash, pbkdf2Sha512Verify, parsePbkdf2Sha512 } from '../../../src/machines/index.js';

/** passlib's adapted base64, written independently: standard alphabet, '+' → '.', no padding. */
function ab64(buf: Buffer): string {
  return buf.toString('base64').split('+').join('.').split('=').join('');
}

describe('passlib pbkdf2_sha512 format', () => {
  it('encodes adapted base64 and decodes it back', () => {
    const bytes = Buffer.from('fbff3e00017f', 'hex');
    expect(ab64Encode(bytes)).toBe('.\/8.AAF/');
    expect(ab64Decode(ab64Encode(bytes))).toEqual(bytes);
    for (let n = 0; n < 40; n++) {
      const b = Buffer.alloc(n, n * 37);
      expect(ab64Decode(ab64Encode(b))).toEqual(b);
      expect(ab64Encode(b)).not.toMatch(/[+=]/);
    }
  });

  it('produces $pbkdf2-sha512$rounds$salt$checksum with a 14-char salt and 86-char checksum (121 chars at 6549 rounds)', async () => {
    const salt = Buffer.from('5ceb bd57 6a2d 4588 b196'.replace(/ /g, ''), 'hex');
    const hash = await pbkdf2Sha512Hash('1234755224', { rounds: 6549, salt });
    const [, scheme, rounds, saltText, checksum] = hash.split('$');
    expect(scheme).toBe('pbkdf2-sha512');
    expect(rounds).toBe('6549');
    expect(saltText).toBe(ab64(salt));
    expect(saltText).toHaveLength(14);
    expect(checksum).toHaveLength(86);
    expect(hash).toHaveLength(121);
    const independent = pbkdf2Sync(Buffer.from('1234755224', 'utf8'), salt, 6549, 64, 'sha512');
    expect(checksum).toBe(ab64(independent));
  });

  it('draws a fresh 10-byte salt per hash and verifies', async () => {
    const a = await pbkdf2Sha512Hash('pin123456', { rounds: 10 });
    const b = await pbkdf2Sha512Hash('pin123456', { rounds: 10 });
    expect(a).not.toBe(b);
    expect(parsePbkdf2Sha512(a).salt).toHaveLength(10);
    expect(await pbkdf2Sha512Verify('pin123456', a)).toBe(true);
    expect(await pbkdf2Sha512Verify('pin123457', a)).toBe(false);
  });

  it('hashes the UTF-8 of the password', async () => {
    const salt = Buffer.alloc(10, 1);
    const hash = await pbkdf2Sha512Hash('pïn755224', { rounds: 3, salt });
    expect(hash.split('$')[4]).toBe(ab64(pbkdf2Sync(Buffer.from('pïn755224', 'utf8'), salt, 3, 64, 'sha512')));
  });

  it('rejects malformed hashes and rounds with KeylimeErrors only', async () => {
    for (const bad of ['', '$pbkdf2-sha512$0$aa$' + 'a'.repeat(86), '$pbkdf2-sha256$10$aa$' + 'a'.repeat(86), '$pbkdf2-sha512$10$a$' + 'a'.repeat(86), '$pbkdf2-sha512$99999999999$aa$' + 'a'.repeat(86)]) {
      expect(() => parsePbkdf2Sha512(bad)).toThrow(expect.objectContaining({ name: 'ParseError' }));
    }
    await expect(pbkdf2Sha512Hash('x', { rounds: 0 })).rejects.toMatchObject({ name: 'KeylimeError' });
    expect(() => ab64Decode('a+b')).toThrow(expect.objectContaining({ name: 'ParseError' }));
  });
});
