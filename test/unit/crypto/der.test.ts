import { describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import * as der from '../../../src/crypto/der.js';
import { sanEntries, sanEntry } from '../../../src/crypto/san.js';
import { keyIdentifier, ext, OID } from '../../../src/crypto/x509.js';
import { KeylimeError } from '../../../src/errors.js';

const hex = (b: Buffer) => b.toString('hex');

describe('ipBytes', () => {
  it('encodes IPv4 and IPv6 literals in network order', () => {
    expect(hex(der.ipBytes('127.0.0.1')!)).toBe('7f000001');
    expect(hex(der.ipBytes('::1')!)).toBe('00000000000000000000000000000001');
    expect(hex(der.ipBytes('::')!)).toBe('0'.repeat(32));
    expect(hex(der.ipBytes('fe80::1:2')!)).toBe('fe800000000000000000000000010002');
    expect(hex(der.ipBytes('2001:db8:0:0:1:0:0:1')!)).toBe('20010db8000000000001000000000001');
    expect(hex(der.ipBytes('::ffff:192.0.2.1')!)).toBe('00000000000000000000ffffc0000201');
    expect(hex(der.ipBytes('64:ff9b::10.0.0.1')!)).toBe('0064ff9b00000000000000000a000001');
  });
  it('rejects non-addresses and zone ids', () => {
    for (const s of ['localhost', '1.2.3', '1.2.3.256', 'fe80::1%eth0', ':::', '']) expect(der.ipBytes(s)).toBeNull();
  });
});

describe('DER primitives', () => {
  it('encodes integers minimally and positive', () => {
    expect(hex(der.encode(der.int(0)))).toBe('020100');
    expect(hex(der.encode(der.int(1)))).toBe('020101');
    expect(hex(der.encode(der.int(128)))).toBe('02020080');
    expect(hex(der.encode(der.int(Buffer.from('0000ff', 'hex'))))).toBe('020200ff');
    expect(hex(der.encode(der.int(2n ** 64n)))).toBe('0209010000000000000000');
  });
  it('encodes KeyUsage named bits as DER wants (trailing zero bits dropped)', () => {
    expect(hex(ext.keyUsage(['keyCertSign', 'cRLSign']).value)).toBe('03020106');
    expect(hex(ext.keyUsage(['digitalSignature', 'keyEncipherment']).value)).toBe('030205a0');
    expect(hex(ext.keyUsage(['digitalSignature']).value)).toBe('03020780');
  });
  it('switches from UTCTime to GeneralizedTime in 2050 (RFC 5280)', () => {
    expect(hex(der.encode(der.time(new Date('2049-12-31T23:59:59Z')))).startsWith('17')).toBe(true);
    expect(hex(der.encode(der.time(new Date('2050-01-01T00:00:00Z')))).startsWith('18')).toBe(true);
  });
  it('decode(encode(x)) gives the same bytes back', () => {
    const node = der.seq(der.oid(OID.commonName), der.utf8('zürich'), der.octets(Buffer.from([1, 2, 3])), der.bool(true));
    const bytes = der.encode(node);
    expect(der.encode(der.decode(bytes)).equals(bytes)).toBe(true);
  });
});

describe('keyIdentifier', () => {
  it('is SHA-1 over the subjectPublicKey bits (RFC 5280 method 1)', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const point = spki.subarray(spki.length - 65); // uncompressed P-256 point, last 65 bytes
    const expected = createHash('sha1').update(point).digest();
    expect(hex(keyIdentifier(publicKey))).toBe(hex(expected));
  });
});

describe('SAN host parsing', () => {
  it('classifies IPs and DNS names, strips IPv6 brackets, de-duplicates', () => {
    expect(sanEntries(['LocalHost', 'localhost', '[::1]', '0:0::1', '10.0.0.1', '*.example.org'])).toEqual([
      { type: 'dns', value: 'LocalHost' },
      { type: 'ip', value: '::1' },
      { type: 'ip', value: '10.0.0.1' },
      { type: 'dns', value: '*.example.org' },
    ]);
  });
  it('rejects text that is neither', () => {
    for (const bad of ['', ' ', 'a b', 'http://x', '-leading.example', 'x'.repeat(64), 'ünicode.example', 'a..b']) {
      expect(() => sanEntry(bad)).toThrow(KeylimeError);
    }
  });
});
