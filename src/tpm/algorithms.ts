/**
 * The hash and key algorithm names the agent configures, with the TPM_ALG_ID numbers
 * and digest sizes needed to read TPM structures and recompute PCR digests.
 */
import { invalidInput } from '../errors.js';

export type HashAlg = 'sha1' | 'sha256' | 'sha384' | 'sha512';
export type EkAlg = 'rsa' | 'ecc';
export type SignAlg = 'rsassa' | 'rsapss' | 'ecdsa' | 'ecschnorr';

interface HashInfo {
  id: number;
  size: number;
}

const hashes: Record<HashAlg, HashInfo> = {
  sha1: { id: 0x0004, size: 20 },
  sha256: { id: 0x000b, size: 32 },
  sha384: { id: 0x000c, size: 48 },
  sha512: { id: 0x000d, size: 64 },
};

export function isHashAlg(name: string): name is HashAlg {
  return Object.hasOwn(hashes, name);
}

export function hashAlgId(alg: HashAlg): number {
  return hashes[alg].id;
}

export function digestSize(alg: HashAlg): number {
  return hashes[alg].size;
}

/** The hash named by a TPM_ALG_ID, or undefined for algorithms node:crypto cannot compute. */
export function hashAlgFromId(id: number): HashAlg | undefined {
  return (Object.keys(hashes) as HashAlg[]).find((name) => hashes[name].id === id);
}

export function assertHashAlg(name: string): HashAlg {
  if (!isHashAlg(name)) throw invalidInput(`unsupported hash algorithm "${name}" (use sha1, sha256, sha384 or sha512)`);
  return name;
}

export function assertEkAlg(name: string): EkAlg {
  if (name !== 'rsa' && name !== 'ecc') throw invalidInput(`unsupported key algorithm "${name}" (use rsa or ecc)`);
  return name;
}

const signAlgs: Record<SignAlg, EkAlg> = { rsassa: 'rsa', rsapss: 'rsa', ecdsa: 'ecc', ecschnorr: 'ecc' };

/** Checks that a signing scheme fits the key type (tpm2_createak rejects the mix with a vague error). */
export function assertSignAlg(name: string, keyAlg: EkAlg): SignAlg {
  if (!Object.hasOwn(signAlgs, name)) {
    throw invalidInput(`unsupported signing scheme "${name}" (use rsassa, rsapss, ecdsa or ecschnorr)`);
  }
  const sign = name as SignAlg;
  if (signAlgs[sign] !== keyAlg) throw invalidInput(`signing scheme ${sign} does not fit a ${keyAlg} key`);
  return sign;
}
