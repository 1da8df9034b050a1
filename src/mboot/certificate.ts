import { createHash, X509Certificate } from 'node:crypto';

export interface CertificateSummary {
  sha256: string;
  subject?: string;
  issuer?: string;
  notAfter?: string;
}

/** SHA-256 of a DER certificate from a signature database, and its names when it parses. */
export function certificateSummary(der: Buffer): CertificateSummary {
  const sha256 = createHash('sha256').update(der).digest('hex');
  try {
    const cert = new X509Certificate(der);
    return { sha256, subject: oneLine(cert.subject), issuer: oneLine(cert.issuer), notAfter: cert.validTo };
  } catch {
    return { sha256 };
  }
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}
