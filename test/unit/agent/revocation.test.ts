import { execFileSync } from 'node:child_process';
import { constants, createSign, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { handleRevocation, parseRevocation, verifyRevocationSignature } from '../../../src/servers/agent/revocation.js';

/** A RevocationNotifier key and certificate made with openssl, as the tenant's CA would. */
function notifier(dir: string, name: string): { key: string; certPath: string } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', '/CN=RevocationNotifier'], { cwd: dir, stdio: 'pipe' });
  return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), certPath: join(dir, `${name}.crt`) };
}

/** Keylime's signer: RSA-PSS, SHA-256, MGF1-SHA-256, maximal salt. */
function pssSign(key: string, msg: string, saltLength: number = constants.RSA_PSS_SALTLEN_MAX_SIGN): string {
  return sign('sha256', Buffer.from(msg, 'utf8'), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }).toString('base64');
}

describe('revocation notifications', () => {
  let dir: string;
  let good: { key: string; certPath: string };
  let other: { key: string; certPath: string };
  const msg = JSON.stringify({ type: 'revocation', agent_id: 'a1', ip: '127.0.0.1', port: 9002, event_id: 'pcr_validation.invalid_pcr_15' });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kts-revoc-'));
    good = notifier(dir, 'good');
    other = notifier(dir, 'other');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('verifies RSA-PSS-SHA256 with maximal salt, and only that', () => {
    const cert = new X509Certificate(readFileSync(good.certPath));
    expect(verifyRevocationSignature(cert, { msg, signature: pssSign(good.key, msg) })).toBeUndefined();
    // Also a signature from openssl's own CLI (pkeyutl with saltlen max).
    writeFileSync(join(dir, 'msg'), msg);
    execFileSync('openssl', ['dgst', '-sha256', '-sign', join(dir, 'good.key'), '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:max', '-out', 'sig', 'msg'], { cwd: dir, stdio: 'pipe' });
    expect(verifyRevocationSignature(cert, { msg, signature: readFileSync(join(dir, 'sig')).toString('base64') })).toBeUndefined();
    expect(verifyRevocationSignature(cert, { msg, signature: pssSign(good.key, msg, 32) })).toMatch(/does not verify/);
    expect(verifyRevocationSignature(cert, { msg: msg + ' ', signature: pssSign(good.key, msg) })).toMatch(/does not verify/);
    expect(verifyRevocationSignature(cert, { msg, signature: pssSign(other.key, msg) })).toMatch(/does not verify/);
    const pkcs1 = createSign('sha256').update(msg).sign(good.key, 'base64');
    expect(verifyRevocationSignature(cert, { msg, signature: pkcs1 })).toMatch(/does not verify/);
    expect(verifyRevocationSignature(cert, { msg, signature: '' })).toMatch(/not signed/);
    expect(verifyRevocationSignature(cert, { msg, signature: '***' })).toMatch(/base64/);
  });

  it('runs the action with the message file only for a valid notification', async () => {
    const action = join(dir, 'action.sh');
    const seen = join(dir, 'seen.json');
    writeFileSync(action, `#!/bin/sh\ncp "$1" ${seen}\n`);
    chmodSync(action, 0o755);
    const opts = { certPath: good.certPath, action, workDir: dir, log: silentLogger };
    expect(await handleRevocation({ msg, signature: pssSign(other.key, msg) }, opts)).toMatchObject({ status: 'bad-signature' });
    expect(() => readFileSync(seen)).toThrow();
    const ok = await handleRevocation({ msg, signature: pssSign(good.key, msg) }, opts);
    expect(ok).toMatchObject({ status: 'accepted', actionExitCode: 0, message: { agent_id: 'a1' } });
    expect(readFileSync(seen, 'utf8')).toBe(msg);
    const notJson = 'not json';
    expect(await handleRevocation({ msg: notJson, signature: pssSign(good.key, notJson) }, opts)).toMatchObject({ status: 'bad-message' });
    expect(await handleRevocation({ msg, signature: pssSign(good.key, msg) }, { ...opts, certPath: join(dir, 'missing.crt') })).toEqual({ status: 'no-certificate' });
  });

  it('requires msg and signature strings', () => {
    expect(parseRevocation({ msg: 'm', signature: 's' })).toEqual({ msg: 'm', signature: 's' });
    expect(() => parseRevocation({ msg: 'm' })).toThrow(/'signature'/);
    expect(() => parseRevocation({ signature: 's', msg: 1 })).toThrow(/'msg'/);
    expect(() => parseRevocation('x')).toThrow(/JSON object/);
  });

  it('refuses a certificate whose key is not RSA', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'ec.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    execFileSync('openssl', ['req', '-x509', '-key', 'ec.key', '-out', 'ec.crt', '-days', '1', '-subj', '/CN=ec'], { cwd: dir, stdio: 'pipe' });
    const cert = new X509Certificate(readFileSync(join(dir, 'ec.crt')));
    expect(verifyRevocationSignature(cert, { msg, signature: 'AAAA' })).toMatch(/RSA is required/);
  });
});
