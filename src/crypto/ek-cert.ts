import { X509Certificate, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { KeylimeError } from '../errors.js';

/** Outcome of checking an EK certificate against the TPM vendor roots. */
export type EkCertStatus = 'verified' | 'unverified' | 'absent';

export interface EkCertCheck {
  status: EkCertStatus;
  /** Why it is unverified or absent, in one sentence. */
  reason?: string;
  /** Subject of the root the chain ended at, when verified. */
  root?: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Parse an EK certificate from what agents send: base64 DER, or PEM (first certificate of a
 * chain). Some vendors ship DER that is not strictly canonical; node:crypto refuses it, so
 * it is re-encoded through node-forge's lenient parser (RSA keys only), as Keylime's
 * malformed_cert_action=warn does.
 */
export function parseEkCertificate(text: string): { cert: X509Certificate; der: Buffer } {
  const pem = text.match(PEM_BLOCK);
  let der: Buffer;
  if (pem) {
    der = Buffer.from(pem[0].replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  } else {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text.replace(/\s/g, ''))) {
      throw new KeylimeError('invalid_input', "ekcert is neither PEM nor base64 DER");
    }
    der = Buffer.from(text.replace(/\s/g, ''), 'base64');
  }
  try {
    const cert = new X509Certificate(der);
    return { cert, der: Buffer.from(cert.raw) };
  } catch {
    try {
      const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')), false);
      const reencoded = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(forge.pki.certificateFromAsn1(asn1))).getBytes(), 'binary');
      const cert = new X509Certificate(reencoded);
      return { cert, der: reencoded };
    } catch {
      throw new KeylimeError('invalid_input', 'ekcert is not a parseable X.509 certificate');
    }
  }
}

/** The DER SubjectPublicKeyInfo of a key, for comparing an EK certificate with ek_tpm. */
export function spkiDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** A set of trusted roots and intermediates (PEM files in a directory, like Keylime's tpm_cert_store). */
export class CertStore {
  constructor(readonly certs: X509Certificate[]) {}

  static async load(dir: string | undefined): Promise<CertStore> {
    if (!dir) return new CertStore([]);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      throw new KeylimeError('invalid_input', `the TPM certificate store ${dir} cannot be read`);
    }
    const certs: X509Certificate[] = [];
    for (const name of names.sort()) {
      if (!/\.(pem|crt|cer|der)$/i.test(name)) continue;
      const data = await readFile(join(dir, name));
      const text = data.toString('latin1');
      const blocks = text.match(PEM_BLOCK);
      for (const block of blocks ?? [data]) {
        try {
          certs.push(new X509Certificate(block));
        } catch {
          /* a file that is not a certificate is not a trust anchor; skip it */
        }
      }
    }
    return new CertStore(certs);
  }

  /**
   * Builds a chain from `leaf` to a self-signed certificate of the store, checking every
   * signature and validity period. Intermediates may come from the store or `extra`.
   */
  verify(leaf: X509Certificate, extra: X509Certificate[] = [], now = new Date()): EkCertCheck {
    const pool = [...this.certs, ...extra];
    let current = leaf;
    for (let depth = 0; depth < 8; depth++) {
      if (!withinValidity(current, now)) {
        return { status: 'unverified', reason: `certificate "${current.subject.replace(/\n/g, ', ')}" is outside its validity period` };
      }
      const issuer = pool.find((c) => current.checkIssued(c) && safeVerify(current, c.publicKey));
      if (!issuer) {
        return {
          status: 'unverified',
          reason: `no certificate in the store issued "${current.issuer.replace(/\n/g, ', ')}"; add that CA to the TPM certificate store`,
        };
      }
      const issuerIsRoot = issuer.checkIssued(issuer) && safeVerify(issuer, issuer.publicKey);
      if (issuerIsRoot && this.certs.includes(issuer)) {
        return withinValidity(issuer, now)
          ? { status: 'verified', root: issuer.subject.replace(/\n/g, ', ') }
          : { status: 'unverified', reason: 'the root certificate is outside its validity period' };
      }
      if (issuerIsRoot) return { status: 'unverified', reason: 'the chain ends at a root that is not in the store' };
      current = issuer;
    }
    return { status: 'unverified', reason: 'certificate chain too long' };
  }
}

function safeVerify(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.verify(key);
  } catch {
    return false;
  }
}

function withinValidity(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

