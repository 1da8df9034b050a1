import crypto, { type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  IMA_EVENT,
  ImaKeyring,
  compileRuntimePolicy,
  emptyRuntimePolicy,
  keyFromBytes,
  keyidV2,
  parseImaLine,
  parseVerificationKeys,
  replayImaLog,
  type ImaEntry,
  type RuntimePolicy,
} from '../../../src/ima/index.js';
import { bufLine, sigLine } from './handbuilt.js';
import { KEYRING_LINE, RSA2048_PUB_PEM, SECP256K1_PRIV_PEM, SIGNATURES } from './fixtures/keylime-vectors.js';

const HASH_IDS: Record<string, number> = { md5: 1, sha1: 2, sha256: 4, sha384: 5, sha512: 6, sha224: 7 };

/** keyidv2 computed in the test: last 4 bytes of SHA-1 over PKCS#1 (RSA) or the X9.62 point (EC). */
function testKeyid(pub: KeyObject): number {
  let material: Buffer;
  if (pub.asymmetricKeyType === 'rsa') material = pub.export({ type: 'pkcs1', format: 'der' });
  else {
    const spki = pub.export({ type: 'spki', format: 'der' });
    const point = spki.subarray(spki.length - (1 + 2 * Math.ceil(curveBits(pub) / 8)));
    material = point;
  }
  return crypto.createHash('sha1').update(material).digest().readUInt32BE(16);
}

function curveBits(pub: KeyObject): number {
  return { prime256v1: 256, secp384r1: 384, secp256k1: 256, secp521r1: 521 }[pub.asymmetricKeyDetails!.namedCurve!]!;
}

/** signature_v2_hdr (big-endian) + signature over the file content's digest. */
function imaSig(content: string, alg: string, priv: KeyObject, keyid: number, opts: { type?: number; version?: number; algId?: number } = {}): Buffer {
  const raw = crypto.sign(alg, Buffer.from(content), priv.asymmetricKeyType === 'ec' ? { key: priv, dsaEncoding: 'der' } : priv);
  const hdr = Buffer.alloc(9);
  hdr[0] = opts.type ?? 3;
  hdr[1] = opts.version ?? 2;
  hdr[2] = opts.algId ?? HASH_IDS[alg]!;
  hdr.writeUInt32BE(keyid, 3);
  hdr.writeUInt16BE(raw.length, 7);
  return Buffer.concat([hdr, raw]);
}

function signedLine(content: string, alg: string, priv: KeyObject, keyid: number, name = '/usr/bin/signed', opts = {}) {
  const digest = crypto.createHash(alg).update(content).digest();
  return sigLine(alg, digest, name, imaSig(content, alg, priv, keyid, opts));
}

function ring(...keys: KeyObject[]): ImaKeyring {
  const r = new ImaKeyring();
  for (const k of keys) r.add(k);
  return r;
}

const keyTypes: [string, () => crypto.KeyPairKeyObjectResult][] = [
  ['RSA-2048', () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['ECDSA P-256', () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' })],
  ['ECDSA P-384', () => crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' })],
  ['ECDSA secp256k1', () => crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' })],
];

describe('ima-sig signature verification (spec §2.6)', () => {
  for (const [label, gen] of keyTypes) {
    it(`${label}: passes with the right key, fails with a wrong key of the same keyid`, () => {
      const good = gen();
      const other = gen();
      const keyid = testKeyid(good.publicKey);
      expect(keyidV2(good.publicKey)).toBe(keyid);
      for (const alg of ['sha256', 'sha512', 'sha1']) {
        const l = signedLine(`content ${alg}`, alg, good.privateKey, keyid);
        const ok = replayImaLog(l.line, { bank: 'sha256', tenantKeyring: ring(good.publicKey) });
        expect(ok.failures, alg).toEqual([]);
        const wrong = new ImaKeyring();
        wrong.add(other.publicKey, keyid);
        const bad = replayImaLog(l.line, { bank: 'sha256', tenantKeyring: wrong });
        expect(bad.failures.map((f) => f.id), alg).toEqual([IMA_EVENT.notInAllowlist]);
        expect(bad.failures[0]!.path).toBe('/usr/bin/signed');
      }
    });
  }

  it('requires type 3 or 5, version 2, and the header hash algorithm to equal the digest algorithm', () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyid = testKeyid(publicKey);
    const keys = ring(publicKey);
    const verdict = (opts: object) => replayImaLog(signedLine('x', 'sha256', privateKey, keyid, '/f', opts).line, { bank: 'sha1', tenantKeyring: keys }).ok;
    expect(verdict({})).toBe(true);
    expect(verdict({ type: 5 })).toBe(true);
    expect(verdict({ type: 6 })).toBe(false);
    expect(verdict({ version: 3 })).toBe(false);
    expect(verdict({ algId: HASH_IDS.sha512 })).toBe(false);
  });

  it('a valid signature passes even when the policy lists another digest; no signature falls back to the policy', () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const l = signedLine('x', 'sha256', privateKey, testKeyid(publicKey), '/usr/bin/x');
    const p = emptyRuntimePolicy();
    p.digests['/usr/bin/x'] = ['00'.repeat(32)];
    expect(replayImaLog(l.line, { bank: 'sha256', policy: compileRuntimePolicy(p), tenantKeyring: ring(publicKey) }).ok).toBe(true);
    expect(replayImaLog(l.line, { bank: 'sha256', policy: compileRuntimePolicy(p), tenantKeyring: null }).failures[0]!.id).toBe(IMA_EVENT.runtimePolicyHash);
  });

  it("verifies Keylime's RSA and secp256k1 signature vectors with keyids f3452d23 and 531f4025", () => {
    const rsa = crypto.createPublicKey(RSA2048_PUB_PEM);
    const k1 = crypto.createPublicKey(crypto.createPrivateKey(SECP256K1_PRIV_PEM));
    expect(keyidV2(rsa)).toBe(0xf3452d23);
    expect(keyidV2(k1)).toBe(0x531f4025);
    const both = replayImaLog(SIGNATURES, { bank: 'sha1', tenantKeyring: ring(rsa, k1) });
    expect(both.failures).toEqual([]);
    const rsaOnly = replayImaLog(SIGNATURES, { bank: 'sha1', tenantKeyring: ring(rsa) });
    expect(rsaOnly.failures.map((f) => f.path)).toEqual(['/usr/bin/zmore']);
    const none = replayImaLog(SIGNATURES, { bank: 'sha1' });
    expect(none.failures.map((f) => f.path)).toEqual(['/usr/bin/dd', '/usr/bin/zmore']);
  });

  it('reads verification-keys (also double-encoded), computing keyids given as 0 or missing', () => {
    const rsa = crypto.createPublicKey(RSA2048_PUB_PEM);
    const k1 = crypto.createPublicKey(crypto.createPrivateKey(SECP256K1_PRIV_PEM));
    const der = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');
    const text = JSON.stringify({ meta: { version: 1 }, keyids: [0], pubkeys: [der(rsa), der(k1)] });
    for (const form of [text, JSON.stringify(text)]) {
      const parsed = parseVerificationKeys(form)!;
      expect([...parsed.keys.keys()]).toEqual([0xf3452d23, 0x531f4025]);
      const p: RuntimePolicy = { ...emptyRuntimePolicy(), 'verification-keys': form };
      expect(replayImaLog(SIGNATURES, { bank: 'sha1', policy: compileRuntimePolicy(p) }).ok).toBe(true);
    }
    expect(parseVerificationKeys('')).toBeNull();
    expect(parseVerificationKeys('[]')).toBeNull();
    expect(() => parseVerificationKeys('{')).toThrow(/not valid JSON/);
  });
});

describe('ima-buf keys and learned keyrings', () => {
  it("learns the .ima certificate of Keylime's vector with its SubjectKeyIdentifier keyid", () => {
    const e = parseImaLine(KEYRING_LINE) as ImaEntry;
    const found = keyFromBytes(Buffer.from(e.buffer, 'hex'));
    expect(found && !('unsupported' in found) && found.keyid).toBe(0x2cb6058c);
    const p = emptyRuntimePolicy();
    p.keyrings['.ima'] = ['a7d52aaa18c23d2d9bb2abb4308c0eeee67387a42259f4a6b1a42257065f3d5a'];
    const r = replayImaLog(KEYRING_LINE, { bank: 'sha1', policy: compileRuntimePolicy(p) });
    expect(r.failures).toEqual([]);
    expect(r.newState.learnedKeyrings['.ima']!.keyids).toEqual([0x2cb6058c]);
  });

  it('a key is usable only after its ima-buf entry, and persists across polls in the state', () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const keyLine = bufLine('sha256', der, '.ima');
    const signed = signedLine('payload', 'sha256', privateKey, testKeyid(publicKey));
    const p = emptyRuntimePolicy();
    p.keyrings['.ima'] = [crypto.createHash('sha256').update(der).digest('hex')];
    const policy = compileRuntimePolicy(p);

    const before = replayImaLog([signed.line, keyLine.line], { bank: 'sha256', policy });
    expect(before.failures.map((f) => f.path)).toEqual(['/usr/bin/signed']);
    const after = replayImaLog([keyLine.line, signed.line], { bank: 'sha256', policy });
    expect(after.failures).toEqual([]);

    // Learned in one poll, used in the next.
    const first = replayImaLog([keyLine.line], { bank: 'sha256', policy, state: undefined });
    const state = JSON.parse(JSON.stringify(first.newState));
    expect(replayImaLog([signed.line], { bank: 'sha256', policy, state }).ok).toBe(true);
  });

  it('an unlisted key digest fails (and is not learned); ignored keyrings accept without learning', () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyLine = bufLine('sha256', publicKey.export({ type: 'spki', format: 'der' }), '.ima');
    const signed = signedLine('payload', 'sha256', privateKey, testKeyid(publicKey));
    const p = emptyRuntimePolicy();
    const r = replayImaLog([keyLine.line, signed.line], { bank: 'sha256', policy: compileRuntimePolicy(p) });
    expect(r.failures.map((f) => [f.id, f.path])).toEqual([
      [IMA_EVENT.notInAllowlist, '.ima'],
      [IMA_EVENT.notInAllowlist, '/usr/bin/signed'],
    ]);
    p.ima.ignored_keyrings = ['*'];
    const ignored = replayImaLog([keyLine.line, signed.line], { bank: 'sha256', policy: compileRuntimePolicy(p) });
    expect(ignored.failures.map((f) => f.path)).toEqual(['/usr/bin/signed']);
  });

  it('a key of an unsupported type is ima.invalid_key', () => {
    const { publicKey } = crypto.generateKeyPairSync('ed25519');
    const keyLine = bufLine('sha256', publicKey.export({ type: 'spki', format: 'der' }), '.ima');
    const r = replayImaLog(keyLine.line, { bank: 'sha256' });
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.invalidKey]);
    expect(r.failures[0]!.context.message).toBe('key from .ima does not have a supported key: Unsupported key type Ed25519PublicKey');
  });
});
