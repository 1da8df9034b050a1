/**
 * ima-sig file signatures (`signature_v2_hdr`, big-endian; spec §2.6). The signature
 * is over the file digest from the log, used as an already-computed hash.
 */
import crypto from 'node:crypto';
import { verifyEcdsaPrehashed } from './ecdsa-prehashed.js';
import type { ImaKeyring } from './keys.js';

/** Linux `hash_info` ids → the name Keylime compares with the log's digest algorithm. */
const HASH_ALGO_NAMES: Readonly<Record<number, string>> = {
  1: 'md5',
  2: 'sha1',
  4: 'sha256',
  5: 'sha384',
  6: 'sha512',
  7: 'sha224',
  18: 'streebog256',
  19: 'streebog512',
};

const DIGEST_SIZES: Readonly<Record<string, number>> = { md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** DER DigestInfo prefixes for PKCS#1 v1.5 (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Readonly<Record<string, Buffer>> = {
  md5: Buffer.from('3020300c06082a864886f70d020505000410', 'hex'),
  sha1: Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  sha224: Buffer.from('302d300d06096086480165030402040500041c', 'hex'),
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export const IMA_XATTR_DIGSIG = 3;
export const EVM_XATTR_PORTABLE_DIGSIG = 5;
const HEADER_LEN = 9;

export interface ImaSignatureHeader {
  type: number;
  version: number;
  hashAlgo: number;
  keyid: number;
  sigSize: number;
}

export function parseSignatureHeader(sig: Uint8Array): ImaSignatureHeader | null {
  if (sig.length < HEADER_LEN) return null;
  const b = Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength);
  return { type: b[0]!, version: b[1]!, hashAlgo: b[2]!, keyid: b.readUInt32BE(3), sigSize: b.readUInt16BE(7) };
}

/**
 * Keylime's `integrity_digsig_verify`: type 3 or 5, version 2, consistent length, hash
 * algorithm equal to the log's digest algorithm, key found by keyid in the first keyring
 * (in order) that holds it; only that key is tried.
 */
export function verifyImaSignature(
  sig: Uint8Array,
  digest: Uint8Array,
  digestAlg: string,
  keyrings: readonly ImaKeyring[],
): boolean {
  const hdr = parseSignatureHeader(sig);
  if (!hdr) return false;
  if (hdr.type !== IMA_XATTR_DIGSIG && hdr.type !== EVM_XATTR_PORTABLE_DIGSIG) return false;
  if (hdr.version !== 2) return false;
  if (HEADER_LEN + hdr.sigSize !== sig.length) return false;
  const hashName = HASH_ALGO_NAMES[hdr.hashAlgo];
  if (!hashName || hashName !== digestAlg) return false;
  // A prehashed verify needs a digest of the algorithm's size; streebog is not available.
  if (DIGEST_SIZES[hashName] !== digest.length) return false;
  let found;
  for (const ring of keyrings) {
    found = ring.get(hdr.keyid);
    if (found) break;
  }
  if (!found) return false;
  const raw = sig.subarray(HEADER_LEN);
  if (found.type === 'rsa') return verifyRsaPrehashed(found.key, hashName, digest, raw);
  return verifyEcdsaPrehashed(found.key, digest, raw);
}

function verifyRsaPrehashed(key: crypto.KeyObject, hashName: string, digest: Uint8Array, sig: Uint8Array): boolean {
  const prefix = DIGEST_INFO[hashName];
  if (!prefix) return false;
  const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (sig.length !== modulusBytes) return false;
  let recovered: Buffer;
  try {
    // Public-key "decryption" with PKCS#1 type-1 padding checks the padding and
    // yields the signed DigestInfo, which must equal the expected one byte for byte.
    recovered = crypto.publicDecrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
  } catch {
    return false;
  }
  return recovered.length === prefix.length + digest.length && recovered.subarray(0, prefix.length).equals(prefix) && recovered.subarray(prefix.length).equals(digest);
}

/**
 * Wraps a raw RSA signature or DER ECDSA signature over a file digest into an
 * ima-sig v2 blob (tests and tooling).
 */
export function buildImaSignature(hashAlgo: string, keyid: number, rawSignature: Uint8Array, type = IMA_XATTR_DIGSIG): Buffer {
  const id = Number(Object.entries(HASH_ALGO_NAMES).find(([, n]) => n === hashAlgo)?.[0]);
  if (!Number.isInteger(id)) throw new RangeError(`no IMA hash id for ${hashAlgo}`);
  const hdr = Buffer.alloc(HEADER_LEN);
  hdr[0] = type;
  hdr[1] = 2;
  hdr[2] = id;
  hdr.writeUInt32BE(keyid >>> 0, 3);
  hdr.writeUInt16BE(rawSignature.length, 7);
  return Buffer.concat([hdr, rawSignature]);
}
