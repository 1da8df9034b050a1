import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import {
  authTag,
  authTagFromKey,
  challengeKey,
  ekPublicFromCertificate,
  generateChallengeSecret,
  makeCredential,
  parseCredentialBlob,
  parseTpm2bPublic,
  publicKeyMatchesCertificate,
  safeEqualHex,
} from '../../../src/quote/index.js';
import { flush, tpm2 } from './tpm2.js';

/** tpm-tooling.md §2.3: ActivateCredential needs a PolicySecret(endorsement) session for the EK. */
function activate(tpm: Swtpm, dir: string, ek: string, ak: string, credFile: string): Buffer {
  tpm2(tpm, dir, 'tpm2_startauthsession', ['--policy-session', '-S', 's.ctx']);
  try {
    tpm2(tpm, dir, 'tpm2_policysecret', ['-S', 's.ctx', '-c', 'e']);
    tpm2(tpm, dir, 'tpm2_activatecredential', ['-c', `${ak}.ctx`, '-C', `${ek}.ctx`, '-i', credFile, '-o', 'secret.out', '-P', 'session:s.ctx']);
  } finally {
    tpm2(tpm, dir, 'tpm2_flushcontext', ['s.ctx']);
    flush(tpm, dir);
  }
  return readFileSync(join(dir, 'secret.out'));
}

describe('software MakeCredential activated by swtpm', () => {
  let tpm: Swtpm;
  let dir: string;
  const AGENT = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';

  beforeAll(async () => {
    tpm = await startSwtpm();
    dir = mkdtempSync(join(tmpdir(), 'kts-cred-'));
    for (const alg of ['rsa', 'ecc'] as const) {
      tpm2(tpm, dir, 'tpm2_createek', ['-c', `ek-${alg}.ctx`, '-G', alg, '-u', `ek-${alg}.pub`]);
      flush(tpm, dir);
      tpm2(tpm, dir, 'tpm2_createak', [
        '-C', `ek-${alg}.ctx`, '-c', `ak-${alg}.ctx`, '-G', alg, '-g', 'sha256', '-s', alg === 'rsa' ? 'rsassa' : 'ecdsa',
        '-u', `ak-${alg}.tss`, '-f', 'tss', '-n', `ak-${alg}.name`, '-r', `ak-${alg}.priv`,
      ]);
      flush(tpm, dir);
    }
  }, 120_000);

  afterAll(async () => {
    await tpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const alg of ['rsa', 'ecc'] as const) {
    it(`${alg.toUpperCase()} EK: the TPM releases our credential to the AK, and the auth_tag round-trips`, () => {
      const ek = parseTpm2bPublic(readFileSync(join(dir, `ek-${alg}.pub`)));
      expect(ek.kind).toBe(alg);
      const akName = parseTpm2bPublic(readFileSync(join(dir, `ak-${alg}.tss`))).name;
      expect(akName).toEqual(readFileSync(join(dir, `ak-${alg}.name`)));
      for (let i = 0; i < 2; i++) {
        const secret = generateChallengeSecret();
        expect(secret).toMatch(/^[A-Za-z0-9]{32}$/);
        const blob = makeCredential(ek, akName, Buffer.from(secret, 'latin1'));
        const parts = parseCredentialBlob(blob);
        expect(parts.integrityHmac.length).toBe(32);
        expect(parts.encryptedSecret.length).toBe(alg === 'rsa' ? 256 : 2 + 32 + 2 + 32);
        writeFileSync(join(dir, 'cred.bin'), blob);
        const released = activate(tpm, dir, `ek-${alg}`, `ak-${alg}`, 'cred.bin');
        expect(released.toString('latin1')).toBe(secret);
        // Agent and registrar sides of §2.4 meet.
        expect(safeEqualHex(authTag(released.toString('latin1'), AGENT), authTagFromKey(challengeKey(secret), AGENT))).toBe(true);
      }
    });

    it(`${alg.toUpperCase()} EK: a credential bound to another name is refused by the TPM`, () => {
      const ek = parseTpm2bPublic(readFileSync(join(dir, `ek-${alg}.pub`)));
      const wrongName = Buffer.concat([Buffer.from([0x00, 0x0b]), randomBytes(32)]);
      writeFileSync(join(dir, 'cred-wrong.bin'), makeCredential(ek, wrongName, Buffer.from(generateChallengeSecret(), 'latin1')));
      expect(() => activate(tpm, dir, `ek-${alg}`, `ak-${alg}`, 'cred-wrong.bin')).toThrow(/tpm2_activatecredential/);
    });

    it(`${alg.toUpperCase()} EK: tpm2_makecredential output parses with the same layout as ours`, () => {
      writeFileSync(join(dir, 'secret.bin'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345');
      tpm2(tpm, dir, 'tpm2_makecredential', [
        '-T', 'none', '-u', `ek-${alg}.pub`, '-s', 'secret.bin', '-n', readFileSync(join(dir, `ak-${alg}.name`)).toString('hex'), '-o', 'tools-cred.bin',
      ]);
      const theirs = readFileSync(join(dir, 'tools-cred.bin'));
      const ours = makeCredential(readFileSync(join(dir, `ek-${alg}.pub`)), readFileSync(join(dir, `ak-${alg}.name`)), Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'));
      expect(theirs.length).toBe(ours.length);
      expect(theirs.subarray(0, 12)).toEqual(ours.subarray(0, 12));
      const a = parseCredentialBlob(theirs);
      const b = parseCredentialBlob(ours);
      expect([a.integrityHmac.length, a.encIdentity.length, a.encryptedSecret.length]).toEqual([
        b.integrityHmac.length, b.encIdentity.length, b.encryptedSecret.length,
      ]);
    });
  }

  it('the EK-low TPM2B_PUBLIC rebuilt from the EK certificate equals the TPM EK, and their keys match', () => {
    tpm2(tpm, dir, 'tpm2_nvread', ['0x1c00002', '-C', 'o', '-o', 'ekcert.der']);
    const cert = new X509Certificate(readFileSync(join(dir, 'ekcert.der')));
    const fromTpm = readFileSync(join(dir, 'ek-rsa.pub'));
    expect(ekPublicFromCertificate(cert).equals(fromTpm)).toBe(true);
    expect(publicKeyMatchesCertificate(parseTpm2bPublic(fromTpm), cert)).toBe(true);
    expect(publicKeyMatchesCertificate(parseTpm2bPublic(readFileSync(join(dir, 'ek-ecc.pub'))), cert)).toBe(false);
  });

  it('an ECC P-256 EK certificate rebuilds to the EK-low ECC template (made with openssl)', () => {
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key'], { cwd: dir });
    execFileSync('openssl', ['req', '-new', '-x509', '-key', 'ec.key', '-subj', '/CN=ek', '-days', '1', '-out', 'ec.pem'], { cwd: dir });
    const cert = new X509Certificate(readFileSync(join(dir, 'ec.pem')));
    const ek = parseTpm2bPublic(ekPublicFromCertificate(cert));
    expect(ek.kind).toBe('ecc');
    expect(ek.area).toMatchObject({ type: 0x0023, nameAlg: 0x000b, objectAttributes: 0x000300b2, curveId: 0x0003, scheme: { alg: 0x0010 }, kdf: { alg: 0x0010 } });
    expect(ek.area.symmetric).toEqual({ alg: 0x0006, keyBits: 128, mode: 0x0043 });
    expect(publicKeyMatchesCertificate(ek, cert)).toBe(true);
  });
});
