import { randomBytes, type KeyObject } from 'node:crypto';
import { invalidInput } from '../errors.js';
import { addDays } from './ca-profile.js';
import { generateEcKey, parsePrivateKey, privateKeyPem } from './keys.js';
import { sanEntries } from './san.js';
import { OID, buildCertificate, encodeName, ext, toPem } from './x509.js';

export interface SelfSignedOptions {
  /** The agent UUID. */
  commonName: string;
  /** Extra SANs, typically the agent's contact_ip. */
  hosts?: string[];
  /** Existing key (PKCS#8, PKCS#1 or SEC1 PEM, RSA or EC); a P-256 key is made when absent. */
  keyPem?: string;
  now?: Date;
  days?: number;
}

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
  generatedKey: boolean;
}

/**
 * The agent's mTLS server certificate (spec §3.1 step 5): self-signed X.509v3, CN = agent
 * UUID, SAN DNS localhost, localhost.domain, IP 127.0.0.1, ::1 and the contact address,
 * valid now..+365 days, SHA-256. Peers pin it as a trust anchor, so unlike the Rust agent
 * we sign it after all extensions are in place.
 */
export async function selfSignedServerCert(opts: SelfSignedOptions): Promise<SelfSignedCertificate> {
  if (!opts.commonName) throw invalidInput('the agent certificate needs a common name (the agent UUID)');
  const sans = sanEntries(['localhost', 'localhost.domain', '127.0.0.1', '::1', ...(opts.hosts ?? [])]);
  const key: KeyObject = opts.keyPem ? parsePrivateKey(opts.keyPem, 'agent mTLS key') : await generateEcKey();
  const now = opts.now ?? new Date();
  const name = encodeName([{ oid: OID.commonName, value: opts.commonName }]);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and never zero
  const der = buildCertificate({
    serial,
    issuer: name,
    subject: name,
    notBefore: now,
    notAfter: addDays(now, opts.days ?? 365),
    publicKey: key,
    extensions: [ext.subjectAltName(sans)],
    signingKey: key,
  });
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: opts.keyPem ?? privateKeyPem(key), generatedKey: !opts.keyPem };
}
