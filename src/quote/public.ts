import { createPublicKey, hash, type KeyObject, type JsonWebKey } from 'node:crypto';
import { ParseError } from '../errors.js';
import { TPM_ALG, curveById, curveByJwkName, curveByOpensslName, hashById, hex16, type CurveInfo } from './algorithms.js';
import { decodeBase64Strict } from './base64.js';
import { TpmReader, TpmWriter } from './marshal.js';

/** TPMT_SYM_DEF_OBJECT: alg NULL, or a block cipher with key size and mode. */
export interface SymDefObject {
  alg: number;
  keyBits?: number;
  mode?: number;
}

/** TPMT_RSA_SCHEME / TPMT_ECC_SCHEME / TPMT_KDF_SCHEME: alg plus its details. */
export interface AlgScheme {
  alg: number;
  hashAlg?: number;
  /** ECDAA only. */
  count?: number;
}

interface PublicAreaBase {
  nameAlg: number;
  objectAttributes: number;
  authPolicy: Buffer;
  symmetric: SymDefObject;
  scheme: AlgScheme;
}

export interface RsaPublicArea extends PublicAreaBase {
  type: typeof TPM_ALG.RSA;
  keyBits: number;
  /** As marshalled: 0 means 65537. */
  exponent: number;
  modulus: Buffer;
}

export interface EccPublicArea extends PublicAreaBase {
  type: typeof TPM_ALG.ECC;
  curveId: number;
  kdf: AlgScheme;
  x: Buffer;
  y: Buffer;
}

/** TPMT_PUBLIC of an asymmetric key (AK, EK, IAK). */
export type PublicArea = RsaPublicArea | EccPublicArea;

/**
 * What quote verification needs of a key. Build it once per agent and reuse it: the
 * verifier's hot path then never re-parses `ak_tpm`.
 */
export interface SigningKey {
  readonly key: KeyObject;
  readonly kind: 'rsa' | 'ecc';
  /** ECC: byte length of r and s (the group order size); 0 for RSA. */
  readonly coordinateBytes: number;
}

/** A parsed TPM2B_PUBLIC: the area, its exact bytes, its TPM name and the usable key. */
export interface TpmPublic extends SigningKey {
  readonly area: PublicArea;
  /** The marshalled TPMT_PUBLIC (TPM2B_PUBLIC without its size). */
  readonly tpmtPublic: Buffer;
  /** nameAlg (2 bytes BE) || H_nameAlg(TPMT_PUBLIC). */
  readonly name: Buffer;
}

/** Object attributes of Keylime's AK (and tpm2_createak): fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign. */
export const AK_ATTRIBUTES = 0x00050072;

const RSA_KEY_BITS = new Set([1024, 2048, 3072, 4096]);
const BLOCK_CIPHERS: ReadonlySet<number> = new Set([TPM_ALG.AES, TPM_ALG.SM4, TPM_ALG.CAMELLIA]);

/** Size of the scheme details that follow a scheme alg id, or undefined when the alg is not a scheme of that kind. */
function schemeDetailSize(kind: 'rsa' | 'ecc' | 'kdf', alg: number): number | undefined {
  if (alg === TPM_ALG.NULL) return 0;
  if (kind === 'rsa') {
    if (alg === TPM_ALG.RSAES) return 0;
    if (alg === TPM_ALG.RSASSA || alg === TPM_ALG.RSAPSS || alg === TPM_ALG.OAEP) return 2;
    return undefined;
  }
  if (kind === 'ecc') {
    if (alg === TPM_ALG.ECDAA) return 4;
    if ([TPM_ALG.ECDSA, TPM_ALG.ECDH, TPM_ALG.SM2, TPM_ALG.ECSCHNORR, TPM_ALG.ECMQV].includes(alg as never)) return 2;
    return undefined;
  }
  if ([TPM_ALG.MGF1, TPM_ALG.KDF1_SP800_56A, TPM_ALG.KDF2, TPM_ALG.KDF1_SP800_108].includes(alg as never)) return 2;
  return undefined;
}

function readScheme(r: TpmReader, kind: 'rsa' | 'ecc' | 'kdf', what: string): AlgScheme {
  const at = r.offset;
  const alg = r.u16(`${what} alg`);
  const detail = schemeDetailSize(kind, alg);
  if (detail === undefined) throw new ParseError(`unsupported ${what} ${hex16(alg)}`, at);
  if (detail === 0) return { alg };
  const hashAlg = r.u16(`${what} hashAlg`);
  if (detail === 4) return { alg, hashAlg, count: r.u16(`${what} count`) };
  return { alg, hashAlg };
}

function writeScheme(w: TpmWriter, kind: 'rsa' | 'ecc' | 'kdf', s: AlgScheme): void {
  const detail = schemeDetailSize(kind, s.alg);
  if (detail === undefined) throw new RangeError(`unsupported scheme ${hex16(s.alg)}`);
  w.u16(s.alg);
  if (detail >= 2) w.u16(s.hashAlg ?? TPM_ALG.NULL);
  if (detail === 4) w.u16(s.count ?? 0);
}

function readSymmetric(r: TpmReader): SymDefObject {
  const at = r.offset;
  const alg = r.u16('symmetric alg');
  if (alg === TPM_ALG.NULL) return { alg };
  if (!BLOCK_CIPHERS.has(alg)) throw new ParseError(`unsupported symmetric algorithm ${hex16(alg)}`, at);
  return { alg, keyBits: r.u16('symmetric keyBits'), mode: r.u16('symmetric mode') };
}

function writeSymmetric(w: TpmWriter, s: SymDefObject): void {
  w.u16(s.alg);
  if (s.alg !== TPM_ALG.NULL) w.u16(s.keyBits ?? 128).u16(s.mode ?? TPM_ALG.CFB);
}

/** Decodes one TPMT_PUBLIC at the reader's position. */
export function decodePublicArea(r: TpmReader): PublicArea {
  const typeAt = r.offset;
  const type = r.u16('TPMT_PUBLIC type');
  if (type !== TPM_ALG.RSA && type !== TPM_ALG.ECC) {
    throw new ParseError(`unsupported public key type ${hex16(type)} (RSA or ECC expected)`, typeAt);
  }
  const nameAt = r.offset;
  const nameAlg = r.u16('TPMT_PUBLIC nameAlg');
  if (!hashById(nameAlg)) throw new ParseError(`unsupported nameAlg ${hex16(nameAlg)}`, nameAt);
  const objectAttributes = r.u32('TPMT_PUBLIC objectAttributes');
  const authPolicy = r.tpm2b('TPMT_PUBLIC authPolicy', 64);
  const symmetric = readSymmetric(r);
  if (type === TPM_ALG.RSA) {
    const scheme = readScheme(r, 'rsa', 'RSA scheme');
    const bitsAt = r.offset;
    const keyBits = r.u16('RSA keyBits');
    if (!RSA_KEY_BITS.has(keyBits)) throw new ParseError(`unsupported RSA key size ${keyBits}`, bitsAt);
    const exponent = r.u32('RSA exponent');
    const modAt = r.offset;
    const modulus = r.tpm2b('RSA modulus', 512);
    if (modulus.length * 8 !== keyBits) {
      throw new ParseError(`RSA modulus is ${modulus.length * 8} bits but keyBits says ${keyBits}`, modAt);
    }
    return { type, nameAlg, objectAttributes, authPolicy, symmetric, scheme, keyBits, exponent, modulus };
  }
  const scheme = readScheme(r, 'ecc', 'ECC scheme');
  const curveAt = r.offset;
  const curveId = r.u16('ECC curveID');
  const curve = curveById(curveId);
  if (!curve) throw new ParseError(`unsupported ECC curve ${hex16(curveId)} (P-256, P-384 or P-521 expected)`, curveAt);
  const kdf = readScheme(r, 'kdf', 'ECC kdf');
  const x = readCoordinate(r, curve, 'ECC x');
  const y = readCoordinate(r, curve, 'ECC y');
  return { type, nameAlg, objectAttributes, authPolicy, symmetric, scheme, curveId, kdf, x, y };
}

function readCoordinate(r: TpmReader, curve: CurveInfo, what: string): Buffer {
  const at = r.offset;
  const c = r.tpm2b(what, 66);
  if (c.length === 0 || c.length > curve.bytes) {
    throw new ParseError(`${what} is ${c.length} bytes, expected 1..${curve.bytes} for ${curve.jwkName}`, at);
  }
  return c;
}

export function encodePublicArea(area: PublicArea): Buffer {
  const w = new TpmWriter();
  w.u16(area.type).u16(area.nameAlg).u32(area.objectAttributes).tpm2b(area.authPolicy, 'authPolicy');
  writeSymmetric(w, area.symmetric);
  if (area.type === TPM_ALG.RSA) {
    writeScheme(w, 'rsa', area.scheme);
    w.u16(area.keyBits).u32(area.exponent).tpm2b(area.modulus, 'modulus');
  } else {
    writeScheme(w, 'ecc', area.scheme);
    w.u16(area.curveId);
    writeScheme(w, 'kdf', area.kdf);
    w.tpm2b(area.x, 'x').tpm2b(area.y, 'y');
  }
  return w.finish();
}

/** TPM2B_PUBLIC: u16 size || TPMT_PUBLIC. */
export function encodeTpm2bPublic(area: PublicArea): Buffer {
  return new TpmWriter().tpm2b(encodePublicArea(area), 'TPM2B_PUBLIC').finish();
}

/** TPM object name: nameAlg (BE) || H_nameAlg(TPMT_PUBLIC bytes). */
export function objectName(nameAlg: number, tpmtPublic: Buffer): Buffer {
  const h = hashById(nameAlg);
  if (!h) throw new ParseError(`unsupported nameAlg ${hex16(nameAlg)}`);
  const out = Buffer.allocUnsafe(2 + h.size);
  out.writeUInt16BE(nameAlg, 0);
  hash(h.name, tpmtPublic, 'buffer').copy(out, 2);
  return out;
}

function leftPad(b: Buffer, size: number): Buffer {
  if (b.length === size) return b;
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** The node:crypto key of a public area; an off-curve point or a bad modulus is a ParseError. */
export function keyFromPublicArea(area: PublicArea): KeyObject {
  let jwk: JsonWebKey;
  if (area.type === TPM_ALG.RSA) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(area.exponent === 0 ? 65537 : area.exponent);
    if (area.exponent !== 0 && (area.exponent < 3 || area.exponent % 2 === 0)) {
      throw new ParseError(`invalid RSA public exponent ${area.exponent}`);
    }
    jwk = { kty: 'RSA', n: stripLeadingZeros(area.modulus).toString('base64url'), e: stripLeadingZeros(e).toString('base64url') };
  } else {
    const curve = curveById(area.curveId)!;
    jwk = {
      kty: 'EC',
      crv: curve.jwkName,
      x: leftPad(area.x, curve.bytes).toString('base64url'),
      y: leftPad(area.y, curve.bytes).toString('base64url'),
    };
  }
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (e) {
    throw new ParseError(`public area does not hold a valid ${area.type === TPM_ALG.RSA ? 'RSA key' : 'ECC point'}: ${(e as Error).message}`);
  }
}

function fromArea(area: PublicArea, tpmtPublic: Buffer): TpmPublic {
  const key = keyFromPublicArea(area);
  return {
    area,
    tpmtPublic,
    name: objectName(area.nameAlg, tpmtPublic),
    key,
    kind: area.type === TPM_ALG.RSA ? 'rsa' : 'ecc',
    coordinateBytes: area.type === TPM_ALG.ECC ? curveById(area.curveId)!.bytes : 0,
  };
}

/** Parses a marshalled TPMT_PUBLIC (no size prefix); the whole buffer must be consumed. */
export function parseTpmtPublic(bytes: Buffer): TpmPublic {
  const r = new TpmReader(bytes);
  const area = decodePublicArea(r);
  r.expectEnd('TPMT_PUBLIC');
  return fromArea(area, bytes);
}

/** Parses a TPM2B_PUBLIC (Keylime's `aik_tpm` / `ek_tpm` after base64); the whole buffer must be consumed. */
export function parseTpm2bPublic(bytes: Buffer): TpmPublic {
  const r = new TpmReader(bytes);
  const inner = r.tpm2b('TPM2B_PUBLIC');
  r.expectEnd('TPM2B_PUBLIC');
  const ir = new TpmReader(bytes, 2, 2 + inner.length);
  const area = decodePublicArea(ir);
  ir.expectEnd('TPMT_PUBLIC inside TPM2B_PUBLIC');
  return fromArea(area, inner);
}

/** Parses Keylime's base64 `aik_tpm` / `ek_tpm` field. */
export function parseTpm2bPublicBase64(b64: string): TpmPublic {
  return parseTpm2bPublic(decodeBase64Strict(b64, 'TPM2B_PUBLIC'));
}

/** A SigningKey from a KeyObject (e.g. a PEM AK, when only the key is known). */
export function signingKeyFromKeyObject(key: KeyObject): SigningKey {
  if (key.asymmetricKeyType === 'rsa') return { key, kind: 'rsa', coordinateBytes: 0 };
  if (key.asymmetricKeyType === 'ec') {
    const curve = curveByOpensslName(String(key.asymmetricKeyDetails?.namedCurve));
    if (curve) return { key, kind: 'ecc', coordinateBytes: curve.bytes };
  }
  throw new ParseError(`unsupported AK key type ${key.asymmetricKeyType ?? 'unknown'} (RSA or ECC P-256/384/521 expected)`);
}

/** A SigningKey from an SPKI PEM public key. */
export function signingKeyFromPem(pem: string): SigningKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new ParseError(`not a PEM public key: ${(e as Error).message}`);
  }
  return signingKeyFromKeyObject(key);
}

/** Parameters of a TPMT_PUBLIC that a KeyObject does not carry. */
export interface PublicTemplate {
  nameAlg: number;
  objectAttributes: number;
  authPolicy?: Buffer;
  symmetric?: SymDefObject;
  scheme?: AlgScheme;
  kdf?: AlgScheme;
  /** Write ECC coordinates without leading zero bytes (the ≤7.11 registrar's EK rebuild quirk). */
  minimalEccCoordinates?: boolean;
}

/** Builds the public area a TPM would report for `key` under `template` (RSA exponent 65537 is written as 0). */
export function publicAreaFromKey(key: KeyObject, template: PublicTemplate): PublicArea {
  const jwk = key.export({ format: 'jwk' });
  const base = {
    nameAlg: template.nameAlg,
    objectAttributes: template.objectAttributes,
    authPolicy: template.authPolicy ?? Buffer.alloc(0),
    symmetric: template.symmetric ?? { alg: TPM_ALG.NULL },
    scheme: template.scheme ?? { alg: TPM_ALG.NULL },
  };
  if (jwk.kty === 'RSA') {
    const modulus = stripLeadingZeros(Buffer.from(jwk.n!, 'base64url'));
    const e = Buffer.from(jwk.e!, 'base64url');
    if (e.length > 4) throw new ParseError('RSA public exponent does not fit in 32 bits');
    const exponent = e.reduce((acc, b) => acc * 256 + b, 0);
    return { type: TPM_ALG.RSA, ...base, keyBits: modulus.length * 8, exponent: exponent === 65537 ? 0 : exponent, modulus };
  }
  if (jwk.kty === 'EC') {
    const curve = curveByJwkName(String(jwk.crv));
    if (!curve) throw new ParseError(`unsupported curve ${String(jwk.crv)}`);
    let x: Buffer = Buffer.from(jwk.x!, 'base64url');
    let y: Buffer = Buffer.from(jwk.y!, 'base64url');
    if (template.minimalEccCoordinates) {
      x = stripLeadingZeros(x);
      y = stripLeadingZeros(y);
    } else {
      x = leftPad(x, curve.bytes);
      y = leftPad(y, curve.bytes);
    }
    return { type: TPM_ALG.ECC, ...base, curveId: curve.id, kdf: template.kdf ?? { alg: TPM_ALG.NULL }, x, y };
  }
  throw new ParseError(`unsupported key type ${String(jwk.kty)}`);
}
