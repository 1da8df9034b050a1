import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/errors.js';
import {
  TPM_ALG,
  TpmReader,
  TpmWriter,
  decodeAttest,
  decodeBase64Strict,
  decodePcrsBlob,
  decodeSignature,
  encodeAttest,
  encodePcrsBlob,
  encodePublicArea,
  encodeSignature,
  encodeTpm2bPublic,
  formatQuoteString,
  objectName,
  parseQuoteString,
  parseTpm2bPublic,
  parseTpmtPublic,
  pcrIndicesOf,
  publicAreaFromKey,
  selectOf,
  signingKeyFromPem,
  type PublicArea,
} from '../../../src/quote/index.js';

describe('TPM marshalling primitives', () => {
  it('reads big- and little-endian integers and TPM2B, naming the field and offset when short', () => {
    const r = new TpmReader(Buffer.from('0102030405060708090a0b0c0d0e0f10' + '0003aabbcc' + '0102', 'hex'));
    expect(r.u8('a')).toBe(1);
    expect(r.u16('b')).toBe(0x0203);
    expect(r.u32('c')).toBe(0x04050607);
    expect(r.u64('d')).toBe(0x08090a0b0c0d0e0f * 1);
    expect(r.u8('e')).toBe(0x10);
    expect(r.tpm2b('f').toString('hex')).toBe('aabbcc');
    expect(r.u16le('g')).toBe(0x0201);
    expect(() => r.u8('the last byte')).toThrow(ParseError);
    try {
      new TpmReader(Buffer.from('0005aa', 'hex')).tpm2b('extraData');
    } catch (e) {
      expect(e).toBeInstanceOf(ParseError);
      expect((e as ParseError).offset).toBe(2);
      expect((e as ParseError).message).toMatch(/truncated extraData: need 5 bytes, 1 left/);
    }
    expect(() => new TpmReader(Buffer.from('0041' + '00'.repeat(65), 'hex')).tpm2b('digest', 64)).toThrow(/exceeds its maximum of 64/);
  });

  it('u64 beyond 2^53 stays ordered', () => {
    const big = (hex: string) => new TpmReader(Buffer.from(hex, 'hex')).u64('x');
    expect(big('ffffffffffffffff')).toBeGreaterThan(big('fffffffffffff000'));
    expect(big('0020000000000001')).toBeGreaterThanOrEqual(big('0020000000000000'));
  });

  it('writer refuses values that do not fit', () => {
    expect(() => new TpmWriter().u16(0x10000)).toThrow(RangeError);
    expect(() => new TpmWriter().u8(-1)).toThrow(RangeError);
    expect(new TpmWriter().u32le(1).u64(258n).finish().toString('hex')).toBe('01000000' + '0000000000000102');
  });

  it('strict base64', () => {
    expect(decodeBase64Strict('QUJD', 'x').toString()).toBe('ABC');
    expect(decodeBase64Strict('QUI=', 'x').toString()).toBe('AB');
    expect(decodeBase64Strict('', 'x').length).toBe(0);
    for (const bad of ['QUJ', 'QU=I', 'Q===', '====', 'QUJD\n', 'QU-_', 'QUI=QUI=', ' QUJ']) {
      expect(() => decodeBase64Strict(bad, 'x'), bad).toThrow(ParseError);
    }
  });
});

describe('TPMS_ATTEST', () => {
  // keylime-protocol.md §4.2 example: SHA-1 quote over PCR 16, nonce "TEST", 93 bytes.
  const example = Buffer.from(
    'ff544347' + '8018' + '0016' + '0004' + '11'.repeat(20) + '0004' + '54455354' + '00000000003243d0' + '00000000' + '00000000' + '01' +
      '2019102300163636' + '00000001' + '0004' + '03' + '000001' + '0014' + '22'.repeat(20),
    'hex',
  );

  it('decodes the documented example', () => {
    expect(example.length).toBe(93);
    const a = decodeAttest(example);
    expect(a.magic).toBe(0xff544347);
    expect(a.type).toBe(0x8018);
    expect(a.qualifiedSigner.toString('hex')).toBe('0004' + '11'.repeat(20));
    expect(a.extraData.toString()).toBe('TEST');
    expect(a.clockInfo).toEqual({ clock: 0x3243d0, resetCount: 0, restartCount: 0, safe: 1 });
    expect(a.firmwareVersion).toBe(0x2019102300163636n);
    expect(a.attested).toEqual({
      kind: 'quote',
      pcrSelections: [{ hashAlg: TPM_ALG.SHA1, select: Buffer.from('000001', 'hex') }],
      pcrDigest: Buffer.alloc(20, 0x22),
    });
    expect(encodeAttest(a).equals(example)).toBe(true);
  });

  it('refuses trailing bytes and oversize fields', () => {
    expect(() => decodeAttest(Buffer.concat([example, Buffer.from([0])]))).toThrow(/trailing/);
    const bigSelect = Buffer.from(example);
    bigSelect[67] = 9; // sizeofSelect
    expect(() => decodeAttest(bigSelect)).toThrow(/sizeofSelect 9/);
  });

  it('pcr selection bitmaps', () => {
    expect(selectOf([15, 16, 22]).toString('hex')).toBe('008041');
    expect(pcrIndicesOf(Buffer.from('008041', 'hex'))).toEqual([15, 16, 22]);
    expect(selectOf([10]).toString('hex')).toBe('000400');
    expect(() => selectOf([24])).toThrow(RangeError);
  });
});

describe('TPMT_SIGNATURE', () => {
  it('round-trips each kind and refuses unknown algorithms', () => {
    const sigs = [
      { kind: 'rsa', sigAlg: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256, signature: Buffer.alloc(256, 1) },
      { kind: 'rsa', sigAlg: TPM_ALG.RSAPSS, hashAlg: TPM_ALG.SHA384, signature: Buffer.alloc(384, 2) },
      { kind: 'ecc', sigAlg: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256, r: Buffer.alloc(32, 3), s: Buffer.alloc(31, 4) },
      { kind: 'hmac', sigAlg: TPM_ALG.HMAC, hashAlg: TPM_ALG.SHA1, digest: Buffer.alloc(20, 5) },
      { kind: 'null', sigAlg: TPM_ALG.NULL },
    ] as const;
    for (const s of sigs) expect(decodeSignature(encodeSignature(s))).toEqual(s);
    expect(encodeSignature(sigs[0]).subarray(0, 6).toString('hex')).toBe('0014000b0100');
    expect(() => decodeSignature(Buffer.from('12340004', 'hex'))).toThrow(/unknown signature algorithm 0x1234/);
    expect(() => decodeSignature(Buffer.from('0005001200', 'hex'))).toThrow(/unsupported HMAC hash/);
  });
});

describe('pcrs file', () => {
  it('decodes what it encodes, all 24 PCRs of sha512 fill three lists', () => {
    const values = new Map([...Array(24).keys()].map((i) => [i, Buffer.alloc(64, i)]));
    const blob = encodePcrsBlob(TPM_ALG.SHA512, values);
    expect(blob.length).toBe(136 + 3 * 532);
    const d = decodePcrsBlob(blob);
    expect(d.selectionCount).toBe(1);
    expect(d.slots[0]).toEqual({ hashAlg: TPM_ALG.SHA512, sizeofSelect: 3, bits: 0xffffff });
    expect(d.slots.slice(1).every((s) => s.sizeofSelect === 0 && s.hashAlg === 0)).toBe(true);
    expect(d.values).toEqual([...values.values()]);
    expect(blob.readUInt32LE(136)).toBe(8);
  });

  it('refuses bad sizes as Keylime does', () => {
    const blob = encodePcrsBlob(TPM_ALG.SHA256, new Map([[1, Buffer.alloc(32)]]));
    const bad = Buffer.from(blob);
    bad[6] = 2;
    expect(() => decodePcrsBlob(bad)).toThrow(/sizeofSelect must be 0 or 3/);
    expect(() => decodePcrsBlob(Buffer.concat([blob, Buffer.alloc(1)]))).toThrow(/expected 668/);
    const lists = Buffer.from(blob);
    lists.writeUInt32LE(0xffffffff, 132);
    expect(() => decodePcrsBlob(lists)).toThrow(/digest lists/);
    const big = Buffer.from(blob);
    big.writeUInt16LE(65, 140);
    expect(() => decodePcrsBlob(big)).toThrow(/digest size 65/);
    expect(() => encodePcrsBlob(TPM_ALG.SHA256, new Map([[1, Buffer.alloc(20)]]))).toThrow(RangeError);
  });
});

describe('quote string', () => {
  it('formats and parses; extra parts are ignored as Keylime does', () => {
    const parts = { attest: Buffer.from('a'), signature: Buffer.from('bc'), pcrs: Buffer.from('def') };
    const s = formatQuoteString(parts);
    expect(s).toBe('rYQ==:YmM=:ZGVm');
    expect(parseQuoteString(s)).toEqual(parts);
    expect(parseQuoteString(s + ':extra:parts')).toEqual(parts);
    expect(() => parseQuoteString('rYQ==:YmM=')).toThrow(/2 part/);
    expect(() => parseQuoteString('cYQ==:YmM=:ZGVm')).toThrow(/must start with "r"/);
    expect(() => parseQuoteString('rYQ=:YmM=:ZGVm')).toThrow(/TPMS_ATTEST part is not valid base64/);
  });
});

describe('TPM2B_PUBLIC', () => {
  const template = { nameAlg: TPM_ALG.SHA256, objectAttributes: 0x00050072, scheme: { alg: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 } };

  for (const bits of [2048, 3072, 4096]) {
    it(`RSA-${bits} round-trips to the same key`, () => {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
      const bytes = encodeTpm2bPublic(publicAreaFromKey(publicKey, template));
      const p = parseTpm2bPublic(bytes);
      expect(p.kind).toBe('rsa');
      expect(p.key.equals(publicKey)).toBe(true);
      expect(p.area).toMatchObject({ type: TPM_ALG.RSA, keyBits: bits, exponent: 0 });
      expect(p.name.subarray(0, 2).toString('hex')).toBe('000b');
      expect(p.name).toEqual(objectName(TPM_ALG.SHA256, bytes.subarray(2)));
      expect(parseTpmtPublic(bytes.subarray(2)).name).toEqual(p.name);
    });
  }

  for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
    it(`ECC ${curve} round-trips, also with coordinates missing their leading zeros`, () => {
      const ecTemplate = { nameAlg: TPM_ALG.SHA384, objectAttributes: 0x00050072, scheme: { alg: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA384 } };
      for (let i = 0; i < 3; i++) {
        const { publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
        const p = parseTpm2bPublic(encodeTpm2bPublic(publicAreaFromKey(publicKey, ecTemplate)));
        expect(p.key.equals(publicKey)).toBe(true);
        expect(p.coordinateBytes).toBe({ 'P-256': 32, 'P-384': 48, 'P-521': 66 }[curve]);
        const minimal = parseTpm2bPublic(encodeTpm2bPublic(publicAreaFromKey(publicKey, { ...ecTemplate, minimalEccCoordinates: true })));
        expect(minimal.key.equals(publicKey)).toBe(true);
      }
    });
  }

  it('the EK-rebuild quirk strips leading zero bytes of ECC coordinates', () => {
    let found = false;
    for (let i = 0; i < 3000 && !found; i++) {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const x = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
      if (x[0] !== 0) continue;
      found = true;
      const area = publicAreaFromKey(publicKey, { nameAlg: TPM_ALG.SHA256, objectAttributes: 0, minimalEccCoordinates: true });
      expect(area.type === TPM_ALG.ECC && area.x.length).toBeLessThan(32);
      expect(parseTpm2bPublic(encodeTpm2bPublic(area)).key.equals(publicKey)).toBe(true);
    }
    expect(found).toBe(true);
  });

  it('scheme, kdf and symmetric details of every shape round-trip', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const areas: PublicArea[] = [
      publicAreaFromKey(publicKey, { nameAlg: TPM_ALG.SHA1, objectAttributes: 1, scheme: { alg: TPM_ALG.ECDAA, hashAlg: TPM_ALG.SHA256, count: 7 }, kdf: { alg: TPM_ALG.KDF1_SP800_108, hashAlg: TPM_ALG.SHA256 } }),
      publicAreaFromKey(publicKey, { nameAlg: TPM_ALG.SHA512, objectAttributes: 2, symmetric: { alg: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB }, authPolicy: Buffer.alloc(64, 9) }),
      publicAreaFromKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, { nameAlg: TPM_ALG.SHA256, objectAttributes: 3, scheme: { alg: TPM_ALG.RSAES } }),
    ];
    for (const area of areas) {
      const p = parseTpm2bPublic(encodeTpm2bPublic(area));
      expect(p.area).toEqual(area);
      expect(encodePublicArea(p.area).equals(p.tpmtPublic)).toBe(true);
    }
  });

  it('refuses what is not an RSA or ECC key it can use', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const good = encodeTpm2bPublic(publicAreaFromKey(publicKey, template));
    const mutate = (at: number, hex: string) => {
      const b = Buffer.from(good);
      Buffer.from(hex, 'hex').copy(b, at);
      return b;
    };
    expect(() => parseTpm2bPublic(mutate(2, '0008'))).toThrow(/unsupported public key type 0x0008/);
    expect(() => parseTpm2bPublic(mutate(4, '0012'))).toThrow(/unsupported nameAlg 0x0012/);
    expect(() => parseTpm2bPublic(mutate(18, '0200'))).toThrow(/unsupported RSA key size 512/);
    expect(() => parseTpm2bPublic(mutate(18, '0c00'))).toThrow(/is 2048 bits but keyBits says 3072/);
    expect(() => parseTpm2bPublic(mutate(20, '00000004'))).toThrow(/invalid RSA public exponent 4/);
    expect(() => parseTpm2bPublic(Buffer.concat([good, Buffer.alloc(1)]))).toThrow(/trailing/);
    const { publicKey: ec } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecArea = publicAreaFromKey(ec, { ...template, scheme: { alg: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 } });
    if (ecArea.type !== TPM_ALG.ECC) throw new Error('expected ECC');
    const offCurve = encodeTpm2bPublic({ ...ecArea, y: Buffer.alloc(32, 1) });
    expect(() => parseTpm2bPublic(offCurve)).toThrow(/valid ECC point/);
    expect(() => parseTpm2bPublic(encodeTpm2bPublic({ ...ecArea, curveId: 0x0001 }))).toThrow(/unsupported ECC curve 0x0001/);
  });

  it('PEM keys become signing keys; other key types do not', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(signingKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString())).toMatchObject({ kind: 'ecc', coordinateBytes: 48 });
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => signingKeyFromPem(ed)).toThrow(/unsupported AK key type ed25519/);
    expect(() => signingKeyFromPem('nope')).toThrow(ParseError);
    expect(createPublicKey(ed).asymmetricKeyType).toBe('ed25519');
  });
});
