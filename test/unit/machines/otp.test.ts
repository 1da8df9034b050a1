import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findHotp, hotp, totp, totpCounter } from '../../../src/machines/index.js';

const RFC4226_KEY = Buffer.from('12345678901234567890', 'ascii');

describe('HOTP (RFC 4226)', () => {
  it('matches the Appendix D test values for counters 0..9', () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
    expect(expected.map((_, c) => hotp(RFC4226_KEY, c))).toEqual(expected);
  });

  it('matches the further vectors privacyIDEA tests with', () => {
    const vectors: Array<[number, string]> = [
      [16, '186581'], [17, '447589'], [18, '903435'], [34, '749439'], [35, '037211'],
      [99, '516516'], [100, '295165'], [102, '629694'], [103, '378717'],
    ];
    for (const [counter, value] of vectors) expect(hotp(RFC4226_KEY, counter), `counter ${counter}`).toBe(value);
  });

  it('zero-pads and honours 8 digits', () => {
    expect(hotp(RFC4226_KEY, 35)).toBe('037211');
    // RFC 4226 Appendix D gives the truncated decimal 1284755224 for counter 0.
    expect(hotp(RFC4226_KEY, 0, 8)).toBe('84755224');
  });

  it('accepts 64-bit counters and refuses out-of-range ones with KeylimeError', () => {
    expect(hotp(RFC4226_KEY, 0xffffffffffffffffn)).toMatch(/^\d{6}$/);
    expect(() => hotp(RFC4226_KEY, -1)).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
    expect(() => hotp(RFC4226_KEY, 0x10000000000000000n)).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
    expect(() => hotp(RFC4226_KEY, 0, 11)).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
  });

  it('finds a value within the window and reports -1 outside it', () => {
    expect(findHotp(RFC4226_KEY, '969429', 0, 10)).toBe(3);
    expect(findHotp(RFC4226_KEY, '969429', 4, 10)).toBe(-1);
    expect(findHotp(RFC4226_KEY, '520489', 0, 9)).toBe(-1);
  });
});

describe('TOTP (RFC 6238 Appendix B)', () => {
  const keys = {
    sha1: Buffer.from('12345678901234567890', 'ascii'),
    sha256: Buffer.from('12345678901234567890123456789012', 'ascii'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
  } as const;
  const table: Array<[number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [time, sha1, sha256, sha512] of table) {
    it(`T=${time}`, () => {
      expect(totp(keys.sha1, time, { digits: 8, hash: 'sha1' })).toBe(sha1);
      expect(totp(keys.sha256, time, { digits: 8, hash: 'sha256' })).toBe(sha256);
      expect(totp(keys.sha512, time, { digits: 8, hash: 'sha512' })).toBe(sha512);
    });
  }

  it('counts time steps from T0', () => {
    expect(totpCounter(59)).toBe(1);
    expect(totpCounter(60, 60)).toBe(1);
    expect(totpCounter(100, 30, 40)).toBe(2);
    expect(() => totpCounter(1, 0)).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
  });

  it('is the HOTP of the time counter', () => {
    const key = keys.sha1;
    const mac = createHmac('sha1', key).update(Buffer.from('0000000000000001', 'hex')).digest();
    const offset = mac[19]! & 15;
    const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1e8;
    expect(totp(key, 59, { digits: 8 })).toBe(String(value).padStart(8, '0'));
  });
});
