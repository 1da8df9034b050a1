import { constants, createDecipheriv, createECDH, createHmac, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeylimeError, ParseError } from '../../../src/errors.js';
import {
  EK_LOW_ATTRIBUTES,
  EK_LOW_AUTH_POLICY,
  PASSWORD_ALPHABET,
  TPM_ALG,
  curveById,
  encodeCredentialBlob,
  encodeTpm2bPublic,
  generateChallengeSecret,
  hashByName,
  kdfa,
  kdfe,
  makeCredential,
  parseCredentialBlob,
  parseTpm2bPublic,
  publicAreaFromKey,
  randomPassword,
  safeEqualHex,
  type TpmPublic,
} from '../../../src/quote/index.js';

const sha256 = hashByName('sha256')!;
const KEY = Buffer.from([...Array(32).keys()]);

// Expected outputs computed with Python's hmac/hashlib from the TPM 2.0 Part 1 KDF definitions.
describe('KDFa and KDFe', () => {
  it('KDFa known answers', () => {
    expect(kdfa(sha256, KEY, 'STORAGE', Buffer.alloc(34, 0xab), Buffer.alloc(0), 128).toString('hex')).toBe('aa2d88fb4e7a85cf55e9150ab5198cd6');
    expect(kdfa(sha256, KEY, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 256).toString('hex')).toBe(
      'bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e',
    );
    expect(kdfa(hashByName('sha1')!, KEY, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 512).toString('hex')).toBe(
      '9d52930b88477729872daf71914a9dbf343bc71440ddad997f8aeef1a7861561b7bdb0d7384f5a031c9c1916fd2b4a46be096c9640a4b4830b62b88e963e531f',
    );
  });

  it('KDFe known answers', () => {
    expect(kdfe(sha256, Buffer.alloc(32, 0x11), 'IDENTITY', Buffer.alloc(32, 0x22), Buffer.alloc(32, 0x33), 256).toString('hex')).toBe(
      '349308f14b258cab5f67a14bfd8329ea42365fcdca2f9e7e658bc7504d5d0cb3',
    );
    expect(kdfe(hashByName('sha384')!, Buffer.alloc(48, 0x11), 'IDENTITY', Buffer.alloc(48, 0x22), Buffer.alloc(48, 0x33), 512).toString('hex')).toBe(
      '7d7147b0a398348c9b609c86403d4e69a591f729202069dbc3b399dbc22c9dd444d17b52415e1d02c1e55cc401266433fd6679223d5f24d3b0ad7da1a91927e7',
    );
  });
});

function ekFor(publicKey: KeyObject, keyBits = 128, nameAlg: number = TPM_ALG.SHA256): TpmPublic {
  return parseTpm2bPublic(
    encodeTpm2bPublic(
      publicAreaFromKey(publicKey, {
        nameAlg,
        objectAttributes: EK_LOW_ATTRIBUTES,
        authPolicy: EK_LOW_AUTH_POLICY,
        symmetric: { alg: TPM_ALG.AES, keyBits, mode: TPM_ALG.CFB },
      }),
    ),
  );
}

/** TPM2_ActivateCredential's math, done with the EK private key: what the TPM does inside. */
function activateInSoftware(ek: TpmPublic, ekPrivate: KeyObject, akName: Buffer, blob: Buffer): Buffer {
  const h = hashByName(ek.area.nameAlg === TPM_ALG.SHA384 ? 'sha384' : 'sha256')!;
  const parts = parseCredentialBlob(blob);
  let seed: Buffer;
  if (ek.area.type === TPM_ALG.RSA) {
    seed = privateDecrypt({ key: ekPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: h.name, oaepLabel: Buffer.from('IDENTITY\0') }, parts.encryptedSecret);
  } else {
    const curve = curveById(ek.area.curveId)!;
    const ecdh = createECDH(curve.opensslName);
    ecdh.setPrivateKey(Buffer.from(ekPrivate.export({ format: 'jwk' }).d!, 'base64url'));
    const xLen = parts.encryptedSecret.readUInt16BE(0);
    const x = parts.encryptedSecret.subarray(2, 2 + xLen);
    const y = parts.encryptedSecret.subarray(4 + xLen);
    const z = ecdh.computeSecret(Buffer.concat([Buffer.from([4]), x, y]));
    seed = kdfe(h, z, 'IDENTITY', x, ek.area.x, h.size * 8);
  }
  const hmacKey = kdfa(h, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), h.size * 8);
  const expected = createHmac(h.name, hmacKey).update(parts.encIdentity).update(akName).digest();
  if (!expected.equals(parts.integrityHmac)) throw new Error('integrity check failed');
  const keyBits = ek.area.symmetric.keyBits!;
  const symKey = kdfa(h, seed, 'STORAGE', akName, Buffer.alloc(0), keyBits);
  const d = createDecipheriv(`aes-${keyBits}-cfb`, symKey, Buffer.alloc(16));
  const plain = Buffer.concat([d.update(parts.encIdentity), d.final()]);
  return plain.subarray(2, 2 + plain.readUInt16BE(0));
}

describe('makeCredential', () => {
  const akName = Buffer.concat([Buffer.from([0, 0x0b]), Buffer.alloc(32, 0x5a)]);
  const secret = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345');

  it('RSA EK: the EK private key recovers the secret; the seed alone fixes the id object', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ek = ekFor(pair.publicKey);
    const fixed = () => Buffer.alloc(32, 0x42);
    const a = makeCredential(ek, akName, secret, { randomBytes: fixed });
    const b = makeCredential(ek, akName, secret, { randomBytes: fixed });
    expect(parseCredentialBlob(a).idObject).toEqual(parseCredentialBlob(b).idObject);
    expect(parseCredentialBlob(a).encryptedSecret).not.toEqual(parseCredentialBlob(b).encryptedSecret);
    expect(activateInSoftware(ek, pair.privateKey, akName, a)).toEqual(secret);
    expect(() => activateInSoftware(ek, pair.privateKey, Buffer.concat([akName.subarray(0, 33), Buffer.from([0])]), a)).toThrow(/integrity/);
  });

  for (const [curve, nameAlg, keyBits] of [['P-256', TPM_ALG.SHA256, 128], ['P-384', TPM_ALG.SHA384, 256]] as const) {
    it(`ECC ${curve} EK: the EK private key recovers the secret`, () => {
      const pair = generateKeyPairSync('ec', { namedCurve: curve });
      const ek = ekFor(pair.publicKey, keyBits, nameAlg);
      for (let i = 0; i < 5; i++) {
        const blob = makeCredential(ek, akName, secret.subarray(0, 20 + i));
        expect(activateInSoftware(ek, pair.privateKey, akName, blob)).toEqual(secret.subarray(0, 20 + i));
      }
    });
  }

  it('refuses EKs without AES-CFB, oversize secrets and malformed names', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const noSym = parseTpm2bPublic(encodeTpm2bPublic(publicAreaFromKey(publicKey, { nameAlg: TPM_ALG.SHA256, objectAttributes: EK_LOW_ATTRIBUTES })));
    expect(() => makeCredential(noSym, akName, secret)).toThrow(/AES-CFB/);
    expect(() => makeCredential(ekFor(publicKey), akName, Buffer.alloc(33))).toThrow(/1\.\.32 bytes/);
    expect(() => makeCredential(ekFor(publicKey), akName, Buffer.alloc(0))).toThrow(KeylimeError);
    expect(() => makeCredential(ekFor(publicKey), akName.subarray(0, 20), secret)).toThrow(/AK name/);
    expect(() => makeCredential('not base64!', akName, secret)).toThrow(ParseError);
  });
});

describe('credential blob', () => {
  it('parses its parts and refuses wrong magic, version or framing', () => {
    const idObject = Buffer.concat([Buffer.from('0020', 'hex'), Buffer.alloc(32, 1), Buffer.alloc(34, 2)]);
    const blob = encodeCredentialBlob(idObject, Buffer.alloc(256, 3));
    expect(blob.subarray(0, 12).toString('hex')).toBe('badcc0de000000010044' + '0020');
    const p = parseCredentialBlob(blob);
    expect(p.integrityHmac).toEqual(Buffer.alloc(32, 1));
    expect(p.encIdentity).toEqual(Buffer.alloc(34, 2));
    expect(p.encryptedSecret).toEqual(Buffer.alloc(256, 3));
    const wrongMagic = Buffer.from(blob);
    wrongMagic[0] = 0;
    expect(() => parseCredentialBlob(wrongMagic)).toThrow(/magic/);
    const wrongVersion = Buffer.from(blob);
    wrongVersion[7] = 2;
    expect(() => parseCredentialBlob(wrongVersion)).toThrow(/version 2/);
    expect(() => parseCredentialBlob(Buffer.concat([blob, Buffer.alloc(1)]))).toThrow(/trailing/);
  });
});

describe('activation helpers', () => {
  it("challenge secrets use Keylime's alphabet and byte % 62 mapping", () => {
    const bytes = Buffer.from([0, 1, 25, 26, 35, 36, 61, 62, 255, ...Array(23).fill(7)]);
    expect(generateChallengeSecret(() => bytes)).toBe('ABZ09az' + 'A' + 'H' + 'H'.repeat(23));
    const s = generateChallengeSecret();
    expect(s).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(randomPassword(20)).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(PASSWORD_ALPHABET).toHaveLength(62);
  });

  it('safeEqualHex is exact', () => {
    expect(safeEqualHex('ab12', 'ab12')).toBe(true);
    expect(safeEqualHex('ab12', 'AB12')).toBe(false);
    expect(safeEqualHex('ab12', 'ab1')).toBe(false);
    expect(safeEqualHex('', '')).toBe(true);
  });
});
