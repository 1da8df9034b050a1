import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caExists, initCa, issueCertificate, loadCa, readTlsMaterial, recoverInterruptedInit } from '../../../src/crypto/ca.js';
import { KeylimeError } from '../../../src/errors.js';
import { openssl, tempDir } from './openssl.js';

const LAYOUT = [
  'ca-public.pem',
  'cacert.crt',
  'cacrl.der',
  'cacrl.pem',
  'client-cert.crt',
  'client-private.pem',
  'client-public.pem',
  'private.yml',
  'server-cert.crt',
  'server-private.pem',
  'server-public.pem',
];
const SECRET = new Set(['private.yml', 'client-private.pem', 'server-private.pem']);

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
function freshRoot(): string {
  const r = tempDir();
  roots.push(r);
  return r;
}

const mode = (p: string) => statSync(p).mode & 0o777;

function snapshot(dir: string): Record<string, { bytes: string; mtime: number; mode: number }> {
  const out: Record<string, { bytes: string; mtime: number; mode: number }> = {};
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    out[f] = { bytes: readFileSync(p).toString('base64'), mtime: statSync(p).mtimeMs, mode: mode(p) };
  }
  return out;
}

/** Staging or swapped-out directories must never outlive an init. */
const leftovers = (root: string) => readdirSync(root).filter((f) => f.startsWith('.'));

describe('initCa', () => {
  it("creates Keylime's cv_ca layout, and OpenSSL verifies the server and client certs against the CA", async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    const result = await initCa(dir, { hosts: ['10.1.2.3', 'verifier.example.org', '0.0.0.0'] });
    expect(result.dir).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual(LAYOUT);
    expect([...result.files].sort()).toEqual(LAYOUT);
    expect(leftovers(root)).toEqual([]);

    const v = openssl(['verify', '-CAfile', 'cacert.crt', 'server-cert.crt', 'client-cert.crt'], dir);
    expect(v.out).toContain('server-cert.crt: OK');
    expect(v.out).toContain('client-cert.crt: OK');
    expect(v.status).toBe(0);
    // Purpose checks: each leaf is good for its TLS role.
    expect(openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslserver', 'server-cert.crt'], dir).status).toBe(0);
    expect(openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslclient', 'client-cert.crt'], dir).status).toBe(0);

    const san = openssl(['x509', '-in', 'server-cert.crt', '-noout', '-ext', 'subjectAltName'], dir).out;
    for (const s of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:10.1.2.3', 'DNS:verifier.example.org']) {
      expect(san).toContain(s);
    }
    expect(san).not.toContain('IP Address:0.0.0.0'); // an unspecified bind address is not a name
    expect(openssl(['x509', '-in', 'client-cert.crt', '-noout', '-ext', 'subjectAltName'], dir).out).toContain('DNS:client');
  });

  it('uses the ca.conf profile: subject, serials, lifetimes, CA and leaf extensions', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    const now = new Date('2030-05-06T07:08:09.500Z');
    await initCa(dir, { now });
    const ca = new X509Certificate(readFileSync(join(dir, 'cacert.crt')));
    expect(ca.subject).toBe('C=US\nCN=Keylime Certificate Authority\nST=MA\nL=Lexington\nO=Keylime\nOU=53');
    expect(ca.issuer).toBe(ca.subject);
    expect(ca.serialNumber).toBe('01');
    expect(ca.ca).toBe(true);
    expect(new Date(ca.validFrom).toISOString()).toBe('2030-05-06T07:08:09.000Z');
    expect(new Date(ca.validTo).getTime() - new Date(ca.validFrom).getTime()).toBe(3650 * 86_400_000);
    const caText = openssl(['x509', '-in', 'cacert.crt', '-noout', '-text'], dir).out;
    expect(caText).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(caText).toMatch(/Subject Key Identifier/);
    expect(caText).toMatch(/Authority Key Identifier/);
    expect(caText).toContain('URI:http://localhost:38080/crl');
    expect(caText).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(caText).toContain('Public-Key: (2048 bit)');

    const server = new X509Certificate(readFileSync(join(dir, 'server-cert.crt')));
    const client = new X509Certificate(readFileSync(join(dir, 'client-cert.crt')));
    expect(server.subject).toBe('C=US\nCN=server\nST=MA\nL=Lexington\nO=Keylime\nOU=53');
    expect(client.subject).toBe('C=US\nCN=client\nST=MA\nL=Lexington\nO=Keylime\nOU=53');
    expect([server.serialNumber, client.serialNumber]).toEqual(['02', '03']);
    expect(new Date(server.validTo).getTime() - new Date(server.validFrom).getTime()).toBe(365 * 86_400_000);
    const serverText = openssl(['x509', '-in', 'server-cert.crt', '-noout', '-text'], dir).out;
    expect(serverText).toMatch(/Netscape Comment:\s+SSL Server/);
    expect(serverText).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(serverText).toContain('URI:http://localhost:38080/crl');
    expect(openssl(['x509', '-in', 'client-cert.crt', '-noout', '-text'], dir).out).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/);

    // private.yml remembers the last serial handed out, as Keylime's lastserial.
    expect((await loadCa(dir)).keystore.entries.get('lastserial')).toBe(3);
    // Public key files hold the matching keys.
    expect(readFileSync(join(dir, 'ca-public.pem'), 'utf8')).toBe(ca.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('writes an empty CRL signed by the CA that OpenSSL accepts for CRL checking', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    await initCa(dir);
    const crl = openssl(['crl', '-in', 'cacrl.pem', '-CAfile', 'cacert.crt', '-noout', '-text'], dir);
    expect(crl.out).toContain('verify OK');
    expect(crl.out).toContain('No Revoked Certificates');
    expect(openssl(['crl', '-in', 'cacrl.der', '-inform', 'DER', '-noout'], dir).status).toBe(0);
    const checked = openssl(['verify', '-crl_check', '-CRLfile', 'cacrl.pem', '-CAfile', 'cacert.crt', 'server-cert.crt'], dir);
    expect(checked.status).toBe(0);
  });

  for (const umask of [0o000, 0o077, 0o022]) {
    it(`writes keys 0600, public files 0644 and the directory 0700 under umask ${umask.toString(8).padStart(3, '0')}`, async () => {
      const old = process.umask(umask);
      try {
        const dir = join(freshRoot(), 'cv_ca');
        await initCa(dir);
        expect(mode(dir)).toBe(0o700);
        for (const f of LAYOUT) expect([f, mode(join(dir, f))]).toEqual([f, SECRET.has(f) ? 0o600 : 0o644]);
        const issued = await issueCertificate(dir, { kind: 'client', name: 'ops', outDir: join(dir, '..', 'ops') });
        expect(mode(issued.dir)).toBe(0o700);
        expect(mode(issued.files.privateKey)).toBe(0o600);
        expect(mode(issued.files.cert)).toBe(0o644);
        expect(mode(join(dir, 'private.yml'))).toBe(0o600);
      } finally {
        process.umask(old);
      }
    });
  }

  it('refuses to replace an existing CA without force and changes nothing', async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    await initCa(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const before = snapshot(dir);
    const err = await initCa(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeylimeError);
    expect((err as KeylimeError).code).toBe('conflict');
    expect((err as KeylimeError).exitCode).toBe(2);
    expect(snapshot(dir)).toEqual(before);
    expect(leftovers(root)).toEqual([]);
    // A directory holding only the keystore also counts as a CA.
    const half = join(root, 'half');
    await initCa(half);
    rmSync(join(half, 'cacert.crt'));
    expect(caExists(half)).toBe(true);
    await expect(initCa(half)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('with force replaces the CA, drops what Keylime init drops and keeps other files', async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    await initCa(dir);
    const oldCa = new X509Certificate(readFileSync(join(dir, 'cacert.crt')));
    await issueCertificate(dir, { kind: 'client', name: 'extra' });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const result = await initCa(dir, { force: true, hosts: ['new.example.org'] });
    expect(result.replaced).toBe(true);
    const newCa = new X509Certificate(readFileSync(join(dir, 'cacert.crt')));
    expect(newCa.fingerprint256).not.toBe(oldCa.fingerprint256);
    expect(readdirSync(dir).sort()).toEqual([...LAYOUT, 'notes.txt'].sort());
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(openssl(['verify', '-CAfile', 'cacert.crt', 'server-cert.crt', 'client-cert.crt'], dir).status).toBe(0);
    expect(openssl(['x509', '-in', 'server-cert.crt', '-noout', '-ext', 'subjectAltName'], dir).out).toContain('DNS:new.example.org');
    expect(mode(dir)).toBe(0o700);
    expect(leftovers(root)).toEqual([]);
  });

  it('without force leaves a directory with foreign key or certificate files alone', async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    mkdirSync(dir);
    writeFileSync(join(dir, 'payload-private.pem'), 'someone else\'s key');
    writeFileSync(join(dir, 'readme.txt'), 'hello');
    const before = snapshot(dir);
    await expect(initCa(dir)).rejects.toMatchObject({ code: 'conflict', details: { files: ['payload-private.pem'] } });
    expect(snapshot(dir)).toEqual(before);
    await initCa(dir, { force: true });
    expect(readdirSync(dir).sort()).toEqual([...LAYOUT, 'readme.txt'].sort());
  });

  it('rejects a bad --host before creating anything', async () => {
    const root = freshRoot();
    await expect(initCa(join(root, 'cv_ca'), { hosts: ['not a host'] })).rejects.toMatchObject({ code: 'invalid_input' });
    expect(readdirSync(root)).toEqual([]);
  });

  it('creates the parent directories, and a pre-existing empty directory is not a CA', async () => {
    const root = freshRoot();
    const deep = join(root, 'a', 'b', 'cv_ca');
    await initCa(deep);
    expect(readdirSync(deep).sort()).toEqual(LAYOUT);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(caExists(empty)).toBe(false);
    await initCa(empty);
    expect(readdirSync(empty).sort()).toEqual(LAYOUT);
  });
});

describe('recovery after a killed init', () => {
  it('puts back a CA left swapped out by a kill between the two renames of a forced replace', async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    const { caCertPem } = await initCa(dir);
    renameSync(dir, join(root, '.cv_ca.old-deadbeef0000'));
    const ca = await loadCa(dir);
    expect(ca.certPem).toBe(caCertPem);
    expect(leftovers(root)).toEqual([]);
  });

  it('removes swapped-out copies beside a present CA and staging directories left for over a minute', async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    await initCa(dir);
    await initCa(join(root, '.cv_ca.old-000000000000'));
    mkdirSync(join(root, '.cv_ca.staging-old'));
    writeFileSync(join(root, '.cv_ca.staging-old', 'private.yml'), 'half');
    const past = new Date(Date.now() - 120_000);
    utimesSync(join(root, '.cv_ca.staging-old'), past, past);
    mkdirSync(join(root, '.cv_ca.staging-fresh')); // maybe another init at work: left alone
    recoverInterruptedInit(dir);
    expect(leftovers(root)).toEqual(['.cv_ca.staging-fresh']);
    expect(caExists(dir)).toBe(true);
  });
});

describe('issueCertificate', () => {
  it('issues server and client certificates that verify, with increasing serials and the SANs asked for', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    await initCa(dir);
    const reg = await issueCertificate(dir, { kind: 'server', name: 'registrar', hosts: ['registrar.example.org', '192.0.2.7', 'fd00::7'] });
    const tenant = await issueCertificate(dir, { kind: 'client', name: 'tenant-ops' });
    expect([reg.serial, tenant.serial]).toEqual([4, 5]);
    expect(reg.files.cert).toBe(join(dir, 'registrar-cert.crt'));
    const v = openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslserver', 'registrar-cert.crt'], dir);
    expect(v.status).toBe(0);
    expect(openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslclient', 'tenant-ops-cert.crt'], dir).status).toBe(0);
    const san = openssl(['x509', '-in', 'registrar-cert.crt', '-noout', '-ext', 'subjectAltName'], dir).out;
    for (const s of ['DNS:localhost', 'IP Address:127.0.0.1', 'DNS:registrar.example.org', 'IP Address:192.0.2.7', 'IP Address:FD00:0:0:0:0:0:0:7']) {
      expect(san).toContain(s);
    }
    expect(new X509Certificate(tenant.certPem).subject).toContain('CN=tenant-ops');
    const ca = await loadCa(dir);
    expect(ca.keystore.entries.get('lastserial')).toBe(5);
    expect(Buffer.isBuffer(ca.keystore.entries.get('tenant-ops'))).toBe(true);
    expect(readFileSync(tenant.files.privateKey, 'utf8')).toBe(tenant.keyPem);
  });

  it('refuses to overwrite a name without force; with force reissues under a new serial', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    await initCa(dir);
    const before = readFileSync(join(dir, 'server-cert.crt'));
    await expect(issueCertificate(dir, { kind: 'server', name: 'server' })).rejects.toMatchObject({ code: 'conflict' });
    expect(readFileSync(join(dir, 'server-cert.crt')).equals(before)).toBe(true);
    const again = await issueCertificate(dir, { kind: 'server', name: 'server', hosts: ['added.example.org'], force: true });
    expect(again.serial).toBe(4);
    expect(openssl(['verify', '-CAfile', 'cacert.crt', 'server-cert.crt'], dir).status).toBe(0);
    expect(openssl(['x509', '-in', 'server-cert.crt', '-noout', '-ext', 'subjectAltName'], dir).out).toContain('added.example.org');
  });

  it('writes to --out with a copy of cacert.crt, so the bundle is usable on its own', async () => {
    const root = freshRoot();
    const dir = join(root, 'cv_ca');
    await initCa(dir);
    const out = join(root, 'bundle');
    const issued = await issueCertificate(dir, { kind: 'client', name: 'alice', outDir: out });
    expect(readdirSync(out).sort()).toEqual(['alice-cert.crt', 'alice-private.pem', 'alice-public.pem', 'cacert.crt']);
    expect(openssl(['verify', '-CAfile', 'cacert.crt', 'alice-cert.crt'], out).status).toBe(0);
    expect(issued.warnings).toEqual([]);
    const tls = readTlsMaterial(out, 'alice');
    expect(tls.cert).toBe(issued.certPem);
    expect(tls.key).toBe(issued.keyPem);
    // A different cacert.crt already in --out is left alone, with a warning.
    const other = join(root, 'other');
    await initCa(other);
    const foreign = join(root, 'foreign');
    await issueCertificate(other, { kind: 'client', name: 'x', outDir: foreign });
    const w = await issueCertificate(dir, { kind: 'client', name: 'bob', outDir: foreign });
    expect(w.warnings.join()).toContain('different CA certificate');
  });

  it('hands out distinct serials to concurrent issuers', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    await initCa(dir);
    const issued = await Promise.all(['a', 'b', 'c', 'd'].map((name) => issueCertificate(dir, { kind: 'client', name })));
    expect(issued.map((i) => i.serial).sort()).toEqual([4, 5, 6, 7]);
    const ca = await loadCa(dir);
    expect(ca.keystore.entries.get('lastserial')).toBe(7);
    for (const n of ['a', 'b', 'c', 'd']) expect(ca.keystore.entries.has(n)).toBe(true);
  });

  it('validates kind, name and hosts', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    await initCa(dir);
    for (const name of ['', '../x', 'a/b', 'ca', 'lastserial', 'revoked_keys', '-x', 'x'.repeat(64), 'trailing.']) {
      await expect(issueCertificate(dir, { kind: 'client', name }), name).rejects.toMatchObject({ code: 'invalid_input' });
    }
    await expect(issueCertificate(dir, { kind: 'bogus' as 'client', name: 'x' })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(issueCertificate(dir, { kind: 'server', name: 'x', hosts: ['a b'] })).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(issueCertificate(join(dir, 'nope'), { kind: 'server', name: 'x' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

// A cv_ca as Keylime's own code makes it (ca_impl_openssl.mk_cacert + ca_util.write_private),
// restated with the same libraries: cryptography for the certificate, PyYAML for private.yml.
const PY_KEYLIME_CA = `
import sys, os, base64, datetime, yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
d = sys.argv[1]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, 'US'), x509.NameAttribute(NameOID.COMMON_NAME, 'Keylime Certificate Authority'),
  x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, 'MA'), x509.NameAttribute(NameOID.LOCALITY_NAME, 'Lexington'),
  x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Keylime'), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, '53')])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
  .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
  .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
  .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
  .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), True)
  .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
  .sign(key, hashes.SHA256()))
open(os.path.join(d, 'cacert.crt'), 'wb').write(cert.public_bytes(serialization.Encoding.PEM))
priv = {'revoked_keys': [], 'ca': key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 'lastserial': 1}
salt = base64.b64encode(os.urandom(32)).decode()
k = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt.encode('utf-8'), iterations=100000).derive(b'default')
iv = os.urandom(16)
blob = base64.b64encode(iv + AESGCM(k).encrypt(iv, yaml.dump(priv, Dumper=yaml.SafeDumper).encode('utf-8'), None))
open(os.path.join(d, 'private.yml'), 'w').write(yaml.dump({'salt': salt, 'priv': blob}, Dumper=yaml.SafeDumper))
`;
const pythonReady = spawnSync('python3', ['-c', 'import yaml, cryptography'], { encoding: 'utf8' }).status === 0;

describe('a cv_ca made by Keylime', () => {
  it.skipIf(!pythonReady)('is loaded, and certificates we issue from it verify against its cacert.crt', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    mkdirSync(dir);
    const py = spawnSync('python3', ['-c', PY_KEYLIME_CA, dir], { encoding: 'utf8' });
    expect(py.stderr).toBe('');
    const ca = await loadCa(dir);
    expect(ca.keystore.entries.get('lastserial')).toBe(1);
    const issued = await issueCertificate(dir, { kind: 'server', name: 'server' });
    expect(issued.serial).toBe(2);
    expect(openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslserver', 'server-cert.crt'], dir).status).toBe(0);
    expect(new X509Certificate(issued.certPem).issuer).toBe(ca.cert.subject);
  });
});

describe('loadCa and readTlsMaterial', () => {
  it('loads the CA key that belongs to cacert.crt', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    const { caCertPem } = await initCa(dir);
    const ca = await loadCa(dir);
    expect(ca.certPem).toBe(caCertPem);
    expect(ca.key.type).toBe('private');
    expect(ca.cert.checkPrivateKey(ca.key)).toBe(true);
  });

  it('reports a missing CA, a wrong password and a key that does not match', async () => {
    const root = freshRoot();
    await expect(loadCa(join(root, 'none'))).rejects.toMatchObject({ code: 'not_found' });
    const dir = join(root, 'cv_ca');
    await initCa(dir, { password: 'pw1' });
    await expect(loadCa(dir)).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(loadCa(dir, { password: 'pw1' })).resolves.toBeTruthy();
    const other = join(root, 'other');
    await initCa(other);
    writeFileSync(join(other, 'cacert.crt'), readFileSync(join(dir, 'cacert.crt')));
    await expect(loadCa(other)).rejects.toMatchObject({ code: 'invalid_input' });
    rmSync(join(other, 'private.yml'));
    await expect(loadCa(other)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('returns PEM strings for servers and clients', async () => {
    const dir = join(freshRoot(), 'cv_ca');
    const init = await initCa(dir);
    const server = readTlsMaterial(dir);
    const client = readTlsMaterial(dir, 'client');
    expect(server.ca).toBe(init.caCertPem);
    expect(server.cert).toBe(init.serverCertPem);
    expect(client.cert).toBe(init.clientCertPem);
    expect(server.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(new X509Certificate(client.cert).checkPrivateKey(createPrivateKey(client.key))).toBe(true);
    expect(() => readTlsMaterial(dir, 'nobody')).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => readTlsMaterial(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'not_found' }));
  });
});
