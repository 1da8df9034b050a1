import { describe, expect, it, afterAll } from 'vitest';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedServerCert } from '../../../src/crypto/self-signed.js';
import { KeylimeError } from '../../../src/errors.js';
import { openssl, tempDir } from './openssl.js';

const UUID = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';
const root = tempDir('klts-selfsigned-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function verifiesWithOpenssl(certPem: string, name: string, at: Date): { status: number | null; out: string } {
  const path = join(root, `${name}.crt`);
  writeFileSync(path, certPem);
  const attime = String(Math.floor(at.getTime() / 1000) + 3600);
  return openssl(['verify', '-check_ss_sig', '-attime', attime, '-CAfile', path, path]);
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ecSec1 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;

describe('selfSignedServerCert (agent mTLS certificate)', () => {
  const cases: [string, string | undefined][] = [
    ['generated P-256 key', undefined],
    ['RSA key (PKCS#1 PEM)', rsa.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['EC key (SEC1 PEM)', ecSec1],
  ];
  for (const [label, keyPem] of cases) {
    it(`is correctly self-signed with a ${label}`, async () => {
      const now = new Date('2031-01-02T03:04:05Z');
      const { certPem, keyPem: outKey, generatedKey } = await selfSignedServerCert({ commonName: UUID, hosts: ['192.168.7.9'], keyPem, now });
      expect(generatedKey).toBe(keyPem === undefined);
      if (keyPem) expect(outKey).toBe(keyPem);
      const cert = new X509Certificate(certPem);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(outKey))).toBe(true);
      expect(cert.subject).toBe(`CN=${UUID}`);
      expect(cert.issuer).toBe(cert.subject);
      expect(new Date(cert.validFrom).toISOString()).toBe(now.toISOString());
      expect(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()).toBe(365 * 86_400_000);
      expect(cert.subjectAltName).toBe(
        'DNS:localhost, DNS:localhost.domain, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.168.7.9',
      );
      const v = verifiesWithOpenssl(certPem, label.replace(/\W+/g, '_'), now);
      expect(v.out).toContain(': OK');
      expect(v.status).toBe(0);
      const text = openssl(['x509', '-noout', '-text', '-in', join(root, `${label.replace(/\W+/g, '_')}.crt`)]).out;
      expect(text).toContain('Version: 3 (0x2)');
      expect(text).toMatch(label.startsWith('RSA') ? /Signature Algorithm: sha256WithRSAEncryption/ : /Signature Algorithm: ecdsa-with-SHA256/);
    });
  }

  it('generates an EC P-256 key when none is given, as the Rust agent does', async () => {
    const { keyPem } = await selfSignedServerCert({ commonName: UUID });
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('uses a fresh positive serial each time', async () => {
    const a = new X509Certificate((await selfSignedServerCert({ commonName: UUID })).certPem);
    const b = new X509Certificate((await selfSignedServerCert({ commonName: UUID })).certPem);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(parseInt(a.serialNumber.slice(0, 2), 16) & 0x80).toBe(0);
  });

  it('rejects a bad key, an empty name and a bad host', async () => {
    await expect(selfSignedServerCert({ commonName: UUID, keyPem: 'nope' })).rejects.toBeInstanceOf(KeylimeError);
    await expect(selfSignedServerCert({ commonName: '' })).rejects.toBeInstanceOf(KeylimeError);
    await expect(selfSignedServerCert({ commonName: UUID, hosts: ['bad host'] })).rejects.toBeInstanceOf(KeylimeError);
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await expect(selfSignedServerCert({ commonName: UUID, keyPem: ed })).rejects.toBeInstanceOf(KeylimeError);
  });
});
