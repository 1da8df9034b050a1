import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, privateDecrypt, constants } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptPayload, encryptForAgent, encryptPayload, generateBootstrapKeys, keyHmacHex, xorBuffers } from '../../../src/crypto/payload.js';
import { buildStoredZip } from '../../../src/tenant/zip.js';

const UUID = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';
const K = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe('bootstrap key and payload (keylime-protocol.md §3.3, §14)', () => {
  it('matches the spec vectors for the ukey auth_tag and the /keys/verify HMAC', () => {
    expect(keyHmacHex(K, UUID)).toBe('74216909e21c5a1a5fb9e0ad23881f6f1693d01b5469c4d12dfe4ea151ab3334690966790c8e3b4a358b1be3ca443e2d');
    expect(keyHmacHex(K, '1234567890ABCDEFHIJK')).toBe(
      'f9540061792bf71ae1493bc6ba7c32125f98eae91ef24a2c5d60ef30c3997a07bf4f16ed4ef069378b0ba58c895ace76',
    );
  });

  it('splits K into U and V whose xor is K, and neither equals K', () => {
    const { k, u, v } = generateBootstrapKeys();
    expect(xorBuffers(u, v).equals(k)).toBe(true);
    expect(u.equals(k) || v.equals(k)).toBe(false);
  });

  it('payload is IV16 || AES-256-GCM || TAG16 and decrypts only with K', () => {
    const plain = Buffer.from('the secret payload');
    const b64 = encryptPayload(K, plain);
    const raw = Buffer.from(b64, 'base64');
    expect(raw.length).toBe(16 + plain.length + 16);
    expect(decryptPayload(K, raw).equals(plain)).toBe(true);
    const wrong = Buffer.from(K);
    wrong[0]! ^= 1;
    expect(() => decryptPayload(wrong, raw)).toThrow(/does not decrypt/);
    raw[20]! ^= 1;
    expect(() => decryptPayload(K, raw)).toThrow(/does not decrypt/);
  });

  it('encrypts U for the agent with RSA-OAEP SHA-1, decryptable with the NK private key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const u = Buffer.alloc(32, 7);
    const ct = Buffer.from(encryptForAgent(publicKey, u), 'base64');
    expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, ct).equals(u)).toBe(true);
  });
});

describe('payload zip', () => {
  it('is a valid zip that another implementation (Python zipfile) reads back byte for byte', () => {
    const zip = buildStoredZip([
      { name: 'autorun.sh', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
      { name: 'RevocationNotifier-cert.crt', data: Buffer.from('-----BEGIN CERTIFICATE-----\n') },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'kts-zip-'));
    writeFileSync(join(dir, 'p.zip'), zip);
    const out = execFileSync('python3', [
      '-c',
      'import sys, zipfile, json; z = zipfile.ZipFile(sys.argv[1]); print(json.dumps({i.filename: z.read(i).decode() for i in z.infolist()}))',
      join(dir, 'p.zip'),
    ]).toString();
    expect(JSON.parse(out)).toEqual({ 'autorun.sh': '#!/bin/sh\necho hi\n', 'RevocationNotifier-cert.crt': '-----BEGIN CERTIFICATE-----\n' });
  });

  it('refuses names that would escape the extraction directory', () => {
    expect(() => buildStoredZip([{ name: '../evil', data: Buffer.alloc(1) }])).toThrow(/relative names only/);
    expect(() => buildStoredZip([{ name: '/etc/passwd', data: Buffer.alloc(1) }])).toThrow(/relative names only/);
  });
});
