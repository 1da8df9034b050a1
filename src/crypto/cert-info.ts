import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { notFound } from '../errors.js';
import { CA_FILES } from './ca-profile.js';

export interface CertificateInfo {
  file: string;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  subjectAltNames: string[];
  isCa: boolean;
  keyType: string;
  sha256: string;
  sha1: string;
  /** Signed by the CA of the directory (cacert.crt); null when there is none. */
  issuedByCa: boolean | null;
  expired: boolean;
}

const oneLine = (dn: string): string => dn.split('\n').filter(Boolean).join(', ');

function keyType(cert: X509Certificate): string {
  const k = cert.publicKey;
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength ?? '?'}`;
  if (k.asymmetricKeyType === 'ec') return `EC ${d.namedCurve ?? '?'}`;
  return k.asymmetricKeyType ?? 'unknown';
}

export function describeCertificate(cert: X509Certificate, file: string, ca?: X509Certificate, now = new Date()): CertificateInfo {
  const notAfter = new Date(cert.validTo);
  return {
    file,
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    subjectAltNames: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
    isCa: cert.ca,
    keyType: keyType(cert),
    sha256: cert.fingerprint256,
    sha1: cert.fingerprint,
    issuedByCa: ca ? Boolean(cert.checkIssued(ca)) && cert.verify(ca.publicKey) : null,
    expired: notAfter.getTime() < now.getTime(),
  };
}

export interface CaDirDescription {
  dir: string;
  certificates: CertificateInfo[];
  /** Non-certificate files of the layout that are present. */
  files: string[];
}

/** Every *.crt of a cv_ca directory, the CA first; unreadable files are reported, not fatal. */
export function describeCaDir(dir: string, now = new Date()): CaDirDescription {
  const target = resolve(dir);
  let entries: string[];
  try {
    entries = readdirSync(target);
  } catch {
    throw notFound(`${target} does not exist; run: keylime-ts ca init`);
  }
  if (!entries.includes(CA_FILES.caCert)) throw notFound(`no CA in ${target} (${CA_FILES.caCert} missing); run: keylime-ts ca init`);
  const load = (file: string) => new X509Certificate(readFileSync(join(target, file)));
  const ca = load(CA_FILES.caCert);
  const crts = entries.filter((e) => e.endsWith('.crt')).sort((a, b) => (a === CA_FILES.caCert ? -1 : b === CA_FILES.caCert ? 1 : a.localeCompare(b)));
  const certificates: CertificateInfo[] = [];
  for (const file of crts) {
    try {
      certificates.push(describeCertificate(file === CA_FILES.caCert ? ca : load(file), file, ca, now));
    } catch {
      certificates.push({
        file, subject: '', issuer: '', serial: '', notBefore: '', notAfter: '', subjectAltNames: [], isCa: false,
        keyType: 'unreadable', sha256: '', sha1: '', issuedByCa: false, expired: false,
      });
    }
  }
  const others = Object.values(CA_FILES).filter((f) => f !== CA_FILES.caCert && entries.includes(f));
  return { dir: target, certificates, files: [CA_FILES.caCert, ...others] };
}
