import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { ipBytes } from './der.js';
import { sanEntries } from './san.js';
import { OID, encodeName, ext, keyIdentifier, type Extension, type NameAttribute, type SanEntry } from './x509.js';

/** Keylime's ca.conf `[ca]` defaults (spec §11). */
export const CA_DEFAULTS = {
  country: 'US',
  caName: 'Keylime Certificate Authority',
  state: 'MA',
  locality: 'Lexington',
  organization: 'Keylime',
  orgUnit: '53',
  caLifetimeDays: 3650,
  /** Leaf certificates: Keylime fixes 365 days whatever `cert_lifetime` says. */
  leafLifetimeDays: 365,
  bits: 2048,
  crlDistributionPoint: 'http://localhost:38080/crl',
} as const;

/** The cv_ca layout (spec §10.1), file names exactly as Keylime writes them. */
export const CA_FILES = {
  caCert: 'cacert.crt',
  caPublicKey: 'ca-public.pem',
  keystore: 'private.yml',
  crlDer: 'cacrl.der',
  crlPem: 'cacrl.pem',
} as const;

export const leafFiles = (name: string) => ({
  cert: `${name}-cert.crt`,
  privateKey: `${name}-private.pem`,
  publicKey: `${name}-public.pem`,
});

export type LeafKind = 'server' | 'client';

const DAY_MS = 86_400_000;
export const addDays = (d: Date, days: number): Date => new Date(d.getTime() + days * DAY_MS);

/** Subject in Keylime's attribute order: C, CN, ST, L, O, OU. */
export function keylimeName(commonName: string): Buffer {
  const attrs: NameAttribute[] = [
    { oid: OID.countryName, value: CA_DEFAULTS.country },
    { oid: OID.commonName, value: commonName },
    { oid: OID.stateOrProvinceName, value: CA_DEFAULTS.state },
    { oid: OID.localityName, value: CA_DEFAULTS.locality },
    { oid: OID.organizationName, value: CA_DEFAULTS.organization },
    { oid: OID.organizationalUnitName, value: CA_DEFAULTS.orgUnit },
  ];
  return encodeName(attrs);
}

/** Keylime's CA extensions, in its order. */
export function caExtensions(caKey: KeyObject): Extension[] {
  const keyId = keyIdentifier(caKey);
  return [
    ext.basicConstraints(true),
    ext.subjectKeyIdentifier(keyId),
    ext.crlDistributionPoint(CA_DEFAULTS.crlDistributionPoint),
    ext.keyUsage(['keyCertSign', 'cRLSign']),
    ext.authorityKeyIdentifier(keyId),
  ];
}

const isUnspecified = (host: string): boolean => {
  const ip = ipBytes(host.replace(/^\[(.*)\]$/, '$1'));
  return ip !== null && ip.every((b) => b === 0);
};

/**
 * SANs: a server cert answers to localhost, this host's name, 127.0.0.1, ::1 and every
 * extra host (a bind address of 0.0.0.0/:: is skipped, as Keylime does); a client cert
 * names itself (Keylime: DNS `client`) plus any extra hosts.
 */
export function leafSans(kind: LeafKind, name: string, hosts: string[] = []): SanEntry[] {
  const extra = hosts.filter((h) => !isUnspecified(h));
  if (kind === 'client') return sanEntries([name, ...extra]);
  const own = hostname();
  const local = own && own !== 'localhost' && /^[A-Za-z0-9.-]+$/.test(own) ? [own] : [];
  return sanEntries(['localhost', ...local, '127.0.0.1', '::1', ...extra]);
}

/**
 * Keylime's leaf profile (Netscape comment "SSL Server", SAN, CRL DP, AKI) plus SKI, a
 * key usage and the extended key usage of the role, so strict TLS stacks accept the
 * certificate for exactly the job it was issued for.
 */
export function leafExtensions(kind: LeafKind, sans: SanEntry[], leafKey: KeyObject, caKey: KeyObject): Extension[] {
  return [
    ext.netscapeComment('SSL Server'),
    ext.subjectAltName(sans),
    ext.crlDistributionPoint(CA_DEFAULTS.crlDistributionPoint),
    ext.authorityKeyIdentifier(keyIdentifier(caKey)),
    ext.subjectKeyIdentifier(keyIdentifier(leafKey)),
    ext.keyUsage(['digitalSignature', 'keyEncipherment'], false),
    ext.extKeyUsage([kind === 'server' ? OID.serverAuth : OID.clientAuth]),
  ];
}
