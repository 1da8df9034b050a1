import { constants, sign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ParseError } from '../errors.js';
import { TPM_ALG, hashById, hex16 } from './algorithms.js';
import { TpmReader, TpmWriter } from './marshal.js';
import type { SigningKey } from './public.js';

/** TPMT_SIGNATURE as `tpm2_quote -s` writes it (no size prefix). */
export type TpmtSignature =
  | { kind: 'rsa'; sigAlg: number; hashAlg: number; signature: Buffer }
  | { kind: 'ecc'; sigAlg: number; hashAlg: number; r: Buffer; s: Buffer }
  | { kind: 'hmac'; sigAlg: number; hashAlg: number; digest: Buffer }
  | { kind: 'null'; sigAlg: number };

const RSA_SCHEMES: ReadonlySet<number> = new Set([TPM_ALG.RSASSA, TPM_ALG.RSAPSS]);
const ECC_SCHEMES: ReadonlySet<number> = new Set([TPM_ALG.ECDSA, TPM_ALG.ECDAA, TPM_ALG.SM2, TPM_ALG.ECSCHNORR]);
const MAX_RSA_SIG = 512;
const MAX_ECC_PARAM = 66;

export function decodeSignature(bytes: Buffer): TpmtSignature {
  const r = new TpmReader(bytes);
  const algAt = r.offset;
  const sigAlg = r.u16('TPMT_SIGNATURE sigAlg');
  let sig: TpmtSignature;
  if (RSA_SCHEMES.has(sigAlg)) {
    const hashAlg = r.u16('TPMT_SIGNATURE hash');
    sig = { kind: 'rsa', sigAlg, hashAlg, signature: r.tpm2b('RSA signature', MAX_RSA_SIG) };
  } else if (ECC_SCHEMES.has(sigAlg)) {
    const hashAlg = r.u16('TPMT_SIGNATURE hash');
    const rr = r.tpm2b('ECC signature r', MAX_ECC_PARAM);
    const s = r.tpm2b('ECC signature s', MAX_ECC_PARAM);
    sig = { kind: 'ecc', sigAlg, hashAlg, r: rr, s };
  } else if (sigAlg === TPM_ALG.HMAC) {
    const hashAt = r.offset;
    const hashAlg = r.u16('TPMT_HA hashAlg');
    const h = hashById(hashAlg);
    if (!h) throw new ParseError(`unsupported HMAC hash ${hex16(hashAlg)}`, hashAt);
    sig = { kind: 'hmac', sigAlg, hashAlg, digest: r.bytes(h.size, 'TPMT_HA digest') };
  } else if (sigAlg === TPM_ALG.NULL) {
    sig = { kind: 'null', sigAlg };
  } else {
    throw new ParseError(`unknown signature algorithm ${hex16(sigAlg)}`, algAt);
  }
  r.expectEnd('TPMT_SIGNATURE');
  return sig;
}

export function encodeSignature(sig: TpmtSignature): Buffer {
  const w = new TpmWriter().u16(sig.sigAlg);
  if (sig.kind === 'rsa') w.u16(sig.hashAlg).tpm2b(sig.signature, 'signature');
  else if (sig.kind === 'ecc') w.u16(sig.hashAlg).tpm2b(sig.r, 'r').tpm2b(sig.s, 's');
  else if (sig.kind === 'hmac') w.u16(sig.hashAlg).bytes(sig.digest);
  return w.finish();
}

/** A DER INTEGER body for an unsigned big-endian value: minimal, with a 0 byte when the top bit is set. */
function derInteger(v: Buffer): Buffer | undefined {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v.subarray(i);
  if (body.length === 0 || (body.length === 1 && body[0] === 0)) return undefined;
  const pad = body[0]! & 0x80 ? 1 : 0;
  const out = Buffer.allocUnsafe(2 + pad + body.length);
  out[0] = 0x02;
  out[1] = pad + body.length;
  if (pad) out[2] = 0;
  body.copy(out, 2 + pad);
  return out;
}

/**
 * ECDSA-Sig-Value DER from the TPM's (r, s). DER rather than ieee-p1363 because OpenSSL
 * verifies it with less work per call, and it takes r and s of any length the TPM used.
 */
export function ecdsaDer(r: Buffer, s: Buffer, coordinateBytes: number): Buffer | undefined {
  const ri = derInteger(r);
  const si = derInteger(s);
  // r and s are below the group order, so they never need more than its length (+1 sign byte).
  if (!ri || !si || ri.length > coordinateBytes + 3 || si.length > coordinateBytes + 3) return undefined;
  const len = ri.length + si.length;
  const head = len < 0x80 ? Buffer.from([0x30, len]) : Buffer.from([0x30, 0x81, len]);
  return Buffer.concat([head, ri, si], head.length + len);
}

/**
 * Checks `sig` over H(message) with the key: PKCS#1 v1.5 (RSASSA), PSS with the digest's
 * salt length (RSAPSS, as a TPM signs), or ECDSA. Scheme policy (what Keylime accepts)
 * is the caller's business; this only answers whether the math holds.
 */
export function signatureMatches(key: SigningKey, sig: TpmtSignature, message: Buffer): boolean {
  if (sig.kind !== 'rsa' && sig.kind !== 'ecc') return false;
  const h = hashById(sig.hashAlg);
  if (!h) return false;
  try {
    if (sig.kind === 'rsa') {
      if (key.kind !== 'rsa') return false;
      if (sig.sigAlg === TPM_ALG.RSASSA) return cryptoVerify(h.name, message, key.key, sig.signature);
      if (sig.sigAlg === TPM_ALG.RSAPSS) {
        return cryptoVerify(h.name, message, { key: key.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: h.size }, sig.signature);
      }
      return false;
    }
    if (key.kind !== 'ecc' || sig.sigAlg !== TPM_ALG.ECDSA) return false;
    const der = ecdsaDer(sig.r, sig.s, key.coordinateBytes);
    return der !== undefined && cryptoVerify(h.name, message, key.key, der);
  } catch {
    // OpenSSL refuses some malformed inputs by throwing: for a verifier that is just "no".
    return false;
  }
}

/** Signs like a TPM would (for software quotes in tests, benchmarks and load generators). */
export function signLikeTpm(
  privateKey: KeyObject,
  scheme: 'rsassa' | 'rsapss' | 'ecdsa',
  hashAlg: number,
  message: Buffer,
): TpmtSignature {
  const h = hashById(hashAlg);
  if (!h) throw new RangeError(`unsupported hash ${hex16(hashAlg)}`);
  if (scheme === 'rsassa') return { kind: 'rsa', sigAlg: TPM_ALG.RSASSA, hashAlg, signature: sign(h.name, message, privateKey) };
  if (scheme === 'rsapss') {
    const signature = sign(h.name, message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: h.size });
    return { kind: 'rsa', sigAlg: TPM_ALG.RSAPSS, hashAlg, signature };
  }
  const p1363 = sign(h.name, message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const half = p1363.length / 2;
  return { kind: 'ecc', sigAlg: TPM_ALG.ECDSA, hashAlg, r: p1363.subarray(0, half), s: p1363.subarray(half) };
}
