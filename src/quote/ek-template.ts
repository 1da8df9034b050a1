import { X509Certificate, type KeyObject } from 'node:crypto';
import { ParseError } from '../errors.js';
import { TPM_ALG } from './algorithms.js';
import { encodeTpm2bPublic, publicAreaFromKey, type TpmPublic } from './public.js';

/** TCG EK Credential Profile, "low range" templates: PolicySecret(TPM_RH_ENDORSEMENT) digest. */
export const EK_LOW_AUTH_POLICY = Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex');
/** fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt. */
export const EK_LOW_ATTRIBUTES = 0x000300b2;

export type CertificateInput = X509Certificate | Buffer | string;

/** Accepts an X509Certificate, DER bytes or PEM text (the first certificate in it). */
export function toCertificate(cert: CertificateInput): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  try {
    return new X509Certificate(cert);
  } catch (e) {
    throw new ParseError(`not an X.509 certificate: ${(e as Error).message}`);
  }
}

/**
 * The EK TPM2B_PUBLIC a ≤7.11 Keylime registrar rebuilds from `ekcert` (spec §4.5.3):
 * the TCG EK-low template around the certificate's key, whatever the key's size or
 * curve, with ECC coordinates stripped of leading zero bytes as Python does.
 */
export function ekPublicFromCertificate(cert: CertificateInput): Buffer {
  const key = toCertificate(cert).publicKey;
  const area = publicAreaFromKey(key, {
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: EK_LOW_ATTRIBUTES,
    authPolicy: EK_LOW_AUTH_POLICY,
    symmetric: { alg: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
    scheme: { alg: TPM_ALG.NULL },
    kdf: { alg: TPM_ALG.NULL },
    minimalEccCoordinates: true,
  });
  return encodeTpm2bPublic(area);
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/**
 * HEAD registrar rule: when both `ek_tpm` and `ekcert` are given, their public keys'
 * DER SubjectPublicKeyInfo must be identical (both re-encoded, so point compression or
 * curve-parameter encoding in the certificate does not matter).
 */
export function publicKeyMatchesCertificate(pub: TpmPublic | KeyObject, cert: CertificateInput): boolean {
  const key = 'area' in pub ? pub.key : pub;
  return spki(key).equals(spki(toCertificate(cert).publicKey));
}
