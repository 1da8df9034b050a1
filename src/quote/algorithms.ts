/**
 * TPM 2.0 algorithm and structure constants (TPM 2.0 Part 2), limited to what Keylime's
 * wire formats carry: hashes for names, PCR banks and signatures; RSA and the NIST
 * curves for AKs and EKs; AES-CFB for the EK's inner wrap.
 */

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  MGF1: 0x0007,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  SM4: 0x0013,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  ECMQV: 0x001d,
  KDF1_SP800_56A: 0x0020,
  KDF2: 0x0021,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CAMELLIA: 0x0026,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;

/** TPM_GENERATED_VALUE: every TPMS_ATTEST the TPM signs starts with it. */
export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_CERTIFY = 0x8017;
export const TPM_ST_ATTEST_QUOTE = 0x8018;

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface HashInfo {
  readonly id: number;
  readonly name: HashName;
  /** Digest size in bytes. */
  readonly size: number;
}

const HASHES: readonly HashInfo[] = [
  { id: TPM_ALG.SHA1, name: 'sha1', size: 20 },
  { id: TPM_ALG.SHA256, name: 'sha256', size: 32 },
  { id: TPM_ALG.SHA384, name: 'sha384', size: 48 },
  { id: TPM_ALG.SHA512, name: 'sha512', size: 64 },
];

/** The hashes Keylime can verify (Python HASH_FUNCS); SM3 is deliberately absent. */
export function hashById(id: number): HashInfo | undefined {
  return HASHES.find((h) => h.id === id);
}

export function hashByName(name: string): HashInfo | undefined {
  return HASHES.find((h) => h.name === name);
}

export interface CurveInfo {
  readonly id: number;
  /** JWK / WebCrypto curve name. */
  readonly jwkName: 'P-256' | 'P-384' | 'P-521';
  /** OpenSSL name, for ECDH. */
  readonly opensslName: string;
  /** Coordinate (and group order) length in bytes. */
  readonly bytes: number;
  readonly bits: number;
}

const CURVES: readonly CurveInfo[] = [
  { id: 0x0003, jwkName: 'P-256', opensslName: 'prime256v1', bytes: 32, bits: 256 },
  { id: 0x0004, jwkName: 'P-384', opensslName: 'secp384r1', bytes: 48, bits: 384 },
  { id: 0x0005, jwkName: 'P-521', opensslName: 'secp521r1', bytes: 66, bits: 521 },
];

export function curveById(id: number): CurveInfo | undefined {
  return CURVES.find((c) => c.id === id);
}

export function curveByJwkName(name: string): CurveInfo | undefined {
  return CURVES.find((c) => c.jwkName === name);
}

export function curveByOpensslName(name: string): CurveInfo | undefined {
  return CURVES.find((c) => c.opensslName === name);
}

/** Keylime's sign_alg strings for the signature schemes a quote may carry. */
export const SIGNATURE_SCHEME_NAMES: Readonly<Record<number, string>> = {
  [TPM_ALG.RSASSA]: 'rsassa',
  [TPM_ALG.RSAPSS]: 'rsapss',
  [TPM_ALG.ECDSA]: 'ecdsa',
  [TPM_ALG.ECDAA]: 'ecdaa',
  [TPM_ALG.ECSCHNORR]: 'ecschnorr',
  [TPM_ALG.SM2]: 'sm2',
  [TPM_ALG.HMAC]: 'hmac',
};

export function hex16(id: number): string {
  return '0x' + id.toString(16).padStart(4, '0');
}
