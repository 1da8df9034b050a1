/**
 * The hash algorithms IMA replay uses: PCR banks and the template-hash column.
 * Hashing goes through node:crypto's one-shot `hash` with a string output, which
 * is several times faster than producing a Buffer for the small inputs here.
 */
import crypto from 'node:crypto';

export type HashAlg = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const HASH_SIZES: Readonly<Record<HashAlg, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export function isHashAlg(value: unknown): value is HashAlg {
  return value === 'sha1' || value === 'sha256' || value === 'sha384' || value === 'sha512';
}

/** Lowercase hex digest of `data`. */
export function hashHex(alg: string, data: Uint8Array): string {
  return crypto.hash(alg, data, 'hex');
}

/** Digest as a latin1 ("binary") string, one char per byte: the cheapest form to write back into a Buffer. */
export function hashBin(alg: string, data: Uint8Array): string {
  return crypto.hash(alg, data, 'binary');
}

/** Digest bytes as a Buffer (slower than hashHex; use off the hot path). */
export function hashBytes(alg: string, data: Uint8Array | string): Buffer {
  return crypto.createHash(alg).update(data).digest();
}
