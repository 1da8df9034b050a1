import { createHash, createPublicKey, sign as signWith, type KeyObject } from 'node:crypto';
import { invalidInput } from '../errors.js';
import * as der from './der.js';

/**
 * X.509 v3 certificates built from ASN.1 with node-forge and signed with node:crypto,
 * one code path for RSA and ECDSA keys (forge's certificate API signs with RSA only).
 */

export const OID = {
  countryName: '2.5.4.6',
  commonName: '2.5.4.3',
  stateOrProvinceName: '2.5.4.8',
  localityName: '2.5.4.7',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  crlDistributionPoints: '2.5.29.31',
  crlNumber: '2.5.29.20',
  netscapeComment: '2.16.840.1.113730.1.13',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
} as const;

/** One RDN per attribute, in the given order (Keylime: C, CN, ST, L, O, OU). */
export interface NameAttribute {
  oid: string;
  value: string;
}

export function encodeName(attrs: NameAttribute[]): Buffer {
  return der.encode(
    der.seq(
      ...attrs.map((a) =>
        // countryName is PrintableString by definition (RFC 5280 appendix A); the rest UTF8String.
        der.set(der.seq(der.oid(a.oid), a.oid === OID.countryName ? der.printable(a.value) : der.utf8(a.value))),
      ),
    ),
  );
}

export interface Extension {
  oid: string;
  critical: boolean;
  /** DER of the extension value (the content of extnValue). */
  value: Buffer;
}

export type KeyUsageBit =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

const keyUsageBit: Record<KeyUsageBit, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

export type SanEntry = { type: 'dns'; value: string } | { type: 'ip'; value: string };

export const ext = {
  basicConstraints(ca: boolean, critical = true): Extension {
    return { oid: OID.basicConstraints, critical, value: der.encode(ca ? der.seq(der.bool(true)) : der.seq()) };
  },
  keyUsage(usages: KeyUsageBit[], critical = true): Extension {
    return { oid: OID.keyUsage, critical, value: der.encode(der.namedBits(usages.map((u) => keyUsageBit[u]))) };
  },
  extKeyUsage(oids: string[]): Extension {
    return { oid: OID.extKeyUsage, critical: false, value: der.encode(der.seq(...oids.map(der.oid))) };
  },
  subjectKeyIdentifier(keyId: Buffer): Extension {
    return { oid: OID.subjectKeyIdentifier, critical: false, value: der.encode(der.octets(keyId)) };
  },
  authorityKeyIdentifier(keyId: Buffer): Extension {
    return { oid: OID.authorityKeyIdentifier, critical: false, value: der.encode(der.seq(der.implicitBytes(0, keyId))) };
  },
  subjectAltName(entries: SanEntry[]): Extension {
    const names = entries.map((e) => {
      if (e.type === 'dns') return der.implicitBytes(2, Buffer.from(e.value, 'ascii'));
      const ip = der.ipBytes(e.value);
      if (!ip) throw invalidInput(`not an IP address: ${e.value}`);
      return der.implicitBytes(7, ip);
    });
    return { oid: OID.subjectAltName, critical: false, value: der.encode(der.seq(...names)) };
  },
  /** One DistributionPoint with a fullName URI, as Keylime's `cert_crl_dist`. */
  crlDistributionPoint(url: string): Extension {
    const fullName = der.implicitSeq(0, der.implicitBytes(6, Buffer.from(url, 'ascii')));
    return {
      oid: OID.crlDistributionPoints,
      critical: false,
      value: der.encode(der.seq(der.seq(der.explicit(0, fullName)))),
    };
  },
  netscapeComment(text: string): Extension {
    return { oid: OID.netscapeComment, critical: false, value: der.encode(der.ia5(text)) };
  },
};

/** SubjectPublicKeyInfo DER of a public or private KeyObject. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const [, bits] = der.childrenOf(der.decode(spkiDer(publicKey)));
  if (!bits) throw invalidInput('malformed SubjectPublicKeyInfo');
  return createHash('sha1').update(der.contentOf(bits).subarray(1)).digest();
}

function signatureAlgorithm(signingKey: KeyObject): der.Asn1 {
  switch (signingKey.asymmetricKeyType) {
    case 'rsa':
      return der.seq(der.oid(OID.sha256WithRSAEncryption), der.nullValue());
    case 'ec':
      return der.seq(der.oid(OID.ecdsaWithSHA256));
    default:
      throw invalidInput(`cannot sign certificates with a ${signingKey.asymmetricKeyType ?? 'unknown'} key (RSA or EC only)`);
  }
}

/** Wrap a to-be-signed body into the signed SEQUENCE {tbs, algorithm, signature}. */
export function signStructure(buildTbs: (algorithm: der.Asn1) => der.Asn1, signingKey: KeyObject): Buffer {
  const algorithm = signatureAlgorithm(signingKey);
  const tbs = buildTbs(algorithm);
  // ECDSA signatures come out DER-encoded (Ecdsa-Sig-Value), which X.509 wants.
  const signature = signWith('sha256', der.encode(tbs), signingKey);
  return der.encode(der.seq(tbs, algorithm, der.bitString(signature)));
}

export interface CertificateSpec {
  serial: number | bigint | Buffer;
  /** DER of the issuer Name; copy the issuing certificate's subject bytes exactly. */
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  extensions: Extension[];
  signingKey: KeyObject;
}

export function buildCertificate(spec: CertificateSpec): Buffer {
  return signStructure(
    (algorithm) =>
      der.seq(
        der.explicit(0, der.int(2)),
        der.int(spec.serial),
        algorithm,
        der.raw(spec.issuer),
        der.seq(der.time(spec.notBefore), der.time(spec.notAfter)),
        der.raw(spec.subject),
        der.raw(spkiDer(spec.publicKey)),
        ...(spec.extensions.length ? [der.explicit(3, encodeExtensions(spec.extensions))] : []),
      ),
    spec.signingKey,
  );
}

export function encodeExtensions(extensions: Extension[]): der.Asn1 {
  return der.seq(
    ...extensions.map((e) =>
      der.seq(der.oid(e.oid), ...(e.critical ? [der.bool(true)] : []), der.octets(e.value)),
    ),
  );
}

export function toPem(body: Buffer, label: 'CERTIFICATE' | 'X509 CRL'): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The subject Name DER of a certificate, byte for byte (to become an issuer field). */
export function subjectNameDer(certDer: Buffer): Buffer {
  const [tbs] = der.childrenOf(der.decode(certDer));
  if (!tbs) throw invalidInput('malformed certificate');
  const fields = der.childrenOf(tbs);
  // With an explicit [0] version the subject is the sixth field, without it the fifth.
  const hasVersion = fields[0]?.tagClass === 0x80;
  const subject = fields[hasVersion ? 5 : 4];
  if (!subject) throw invalidInput('malformed certificate');
  return der.encode(subject);
}
