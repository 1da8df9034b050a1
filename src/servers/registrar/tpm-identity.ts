import type { KeyObject, X509Certificate } from 'node:crypto';
import { KeylimeError, isKeylimeError } from '../../errors.js';
import {
  AK_ATTRIBUTES,
  authTagFromKey,
  challengeKey,
  ekPublicFromCertificate,
  generateChallengeSecret,
  makeCredential,
  parseTpm2bPublic,
  safeEqualHex,
  type TpmPublic,
} from '../../quote/index.js';

/** The registrar's view of the quote core: parse TPM keys, make and check the challenge. */
export const EXPECTED_AK_ATTRIBUTES = AK_ATTRIBUTES;

function parseField(bytes: Buffer, field: string): TpmPublic {
  try {
    return parseTpm2bPublic(bytes);
  } catch (e) {
    if (isKeylimeError(e)) throw new KeylimeError('invalid_input', `Field '${field}' is not a valid TPM2B_PUBLIC: ${e.message}`);
    throw e;
  }
}

export function akFromTpm2b(bytes: Buffer, field: string): { name: Buffer; objectAttributes: number } {
  const ak = parseField(bytes, field);
  return { name: ak.name, objectAttributes: ak.area.objectAttributes };
}

export function ekFromTpm2b(bytes: Buffer, field: string): { key: KeyObject } {
  return { key: parseField(bytes, field).key };
}

/** ≤7.11 behaviour: rebuild ek_tpm from the certificate's key with the TCG EK-low template. */
export function ekFromCertificate(cert: X509Certificate): Buffer {
  try {
    return ekPublicFromCertificate(cert);
  } catch (e) {
    if (isKeylimeError(e)) throw new KeylimeError('invalid_input', `Cannot derive 'ek_tpm' from 'ekcert': ${e.message}`);
    throw e;
  }
}

/** A fresh challenge: the stored key (b64 of the 32-char secret) and the MakeCredential blob. */
export function challengeFor(ekTpm: Buffer, akName: Buffer): { secret: string; blob: Buffer } {
  const secretAscii = generateChallengeSecret();
  try {
    const blob = makeCredential(ekTpm, akName, Buffer.from(secretAscii, 'ascii'));
    return { secret: challengeKey(secretAscii), blob };
  } catch (e) {
    if (isKeylimeError(e)) throw new KeylimeError('invalid_input', `Cannot make a credential for this EK: ${e.message}`);
    throw e;
  }
}

/** Constant-time check of the agent's activation tag against the stored key. */
export function activationTagMatches(storedKey: string, agentId: string, tag: string): boolean {
  return safeEqualHex(authTagFromKey(storedKey, agentId), tag);
}
