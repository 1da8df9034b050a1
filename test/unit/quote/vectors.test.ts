import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  authTag,
  authTagFromKey,
  challengeKey,
  encodePcrsBlob,
  expectedDataPcr,
  hmacSha384Hex,
  makeCredential,
  parseCredentialBlob,
  parseTpm2bPublicBase64,
  publicAreaFromKey,
  encodeTpm2bPublic,
  TPM_ALG,
  EK_LOW_ATTRIBUTES,
  EK_LOW_AUTH_POLICY,
} from '../../../src/quote/index.js';

// keylime-protocol.md §14 and the Keylime REST API documentation example it refers to.
const DOC_AIK_TPM =
  'ARgAAQALAAUAcgAAABAAFAALCAAAAAAAAQDjZ4J2HO7ekIONAX/eYIzt7ziiVAqE/1D7I9oEwIE88dIfqH0FQLJAg8u3+ZOgsJDQr9HiMhZRPhv8hRuia8ULdAomyOFA1cVzlBF+xcPUEemOIofbvcBNAoTY/x49r8LpqAEUBBiUeOniQbjfRaV2S5cEAA92wHLQAPLF9Sbf3zNxCnbhtRkEi6C3NYl8/FJqyu5Z9vvwEBBOFFTPasAxMtPm6a+Z5KJ4rDflipfaVcUvTKLIBRI7wkuXqhTR8BeIByK9upQ3iBo+FbYjWSf+BaN+wodMNgPbzxyL+tuxVqiPefBbv+sTWVxmYfo5i84FlbNOAW3APH8c+jZ3tgbt';
const AGENT = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';

describe('§14 test vectors', () => {
  it('AK name of the documentation aik_tpm', () => {
    const ak = parseTpm2bPublicBase64(DOC_AIK_TPM);
    expect(ak.name.toString('hex')).toBe('000bfb7a4638970960b6ff260170e2b6b3c95537ce86c2e96c19a4cbcde38eed9e33');
    expect(ak.name.length).toBe(34);
    expect(ak.area.objectAttributes).toBe(0x00050072);
    expect(ak.kind).toBe('rsa');
    expect(ak.key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(ak.key.asymmetricKeyDetails?.publicExponent).toBe(65537n);
  });

  it('typical RSA AK prefix is the documented one (282 bytes)', () => {
    const bytes = Buffer.from(DOC_AIK_TPM, 'base64');
    expect(bytes.length).toBe(282);
    const prefix = ['0118', '0001', '000b', '00050072', '0000', '0010', '0014', '000b', '0800', '00000000', '0100'].join('');
    expect(bytes.subarray(0, 26).toString('hex')).toBe(prefix);
  });

  it('activation mackey and auth_tag', () => {
    const secret = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
    expect(challengeKey(secret)).toBe('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=');
    const tag = '99371ba1dbc4052a34e8eda70f0c10ec0701be7cdb3f7f99671aee66fa55624a49ccd038a7f9d8924aa3e95c14209853';
    expect(authTag(secret, AGENT)).toBe(tag);
    expect(authTagFromKey(challengeKey(secret), AGENT)).toBe(tag);
  });

  it('ukey auth_tag and /keys/verify hmac over raw K', () => {
    const k = Buffer.from([...Array(32).keys()]);
    expect(hmacSha384Hex(k, AGENT)).toBe(
      '74216909e21c5a1a5fb9e0ad23881f6f1693d01b5469c4d12dfe4ea151ab3334690966790c8e3b4a358b1be3ca443e2d',
    );
    expect(hmacSha384Hex(k, '1234567890ABCDEFHIJK')).toBe(
      'f9540061792bf71ae1493bc6ba7c32125f98eae91ef24a2c5d60ef30c3997a07bf4f16ed4ef069378b0ba58c895ace76',
    );
  });

  it('PCR16 of the toy PEM', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nABC\n-----END PUBLIC KEY-----\n';
    expect(expectedDataPcr(pem, 'sha256')).toBe('a6770644a971060c00b7cc1791c60ae29b723545b3ef3bd9c913ed8520c43621');
  });

  it('PCRS blob first 12 bytes for PCRs {15,16,22} in sha256', () => {
    const v = Buffer.alloc(32);
    const blob = encodePcrsBlob(TPM_ALG.SHA256, new Map([[15, v], [16, v], [22, v]]));
    expect(blob.subarray(0, 12).toString('hex')).toBe('01000000' + '0b00' + '03' + '008041' + '00' + '00');
    expect(blob.length).toBe(136 + 532);
  });

  it('PCRS blob sizes: 13 PCRs is 1200 bytes, 1 PCR 668', () => {
    const v = Buffer.alloc(32, 1);
    const thirteen = new Map([...Array(13).keys()].map((i) => [i, v]));
    expect(encodePcrsBlob(TPM_ALG.SHA256, thirteen).length).toBe(1200);
    expect(encodePcrsBlob(TPM_ALG.SHA256, new Map([[16, v]])).length).toBe(668);
  });

  it('MakeCredential blob for an RSA-2048/SHA-256 EK: prefix and 336 bytes', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ek = encodeTpm2bPublic(
      publicAreaFromKey(publicKey, {
        nameAlg: TPM_ALG.SHA256,
        objectAttributes: EK_LOW_ATTRIBUTES,
        authPolicy: EK_LOW_AUTH_POLICY,
        symmetric: { alg: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
      }),
    );
    const akName = parseTpm2bPublicBase64(DOC_AIK_TPM).name;
    const blob = makeCredential(ek, akName, Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'));
    expect(blob.length).toBe(336);
    expect(blob.subarray(0, 12).toString('hex')).toBe('badcc0de' + '00000001' + '0044' + '0020');
    expect(blob.subarray(10 + 68, 10 + 68 + 2).toString('hex')).toBe('0100');
    const parts = parseCredentialBlob(blob);
    expect(parts.integrityHmac.length).toBe(32);
    expect(parts.encIdentity.length).toBe(34);
    expect(parts.encryptedSecret.length).toBe(256);
  });
});
