import type { KeyObject } from 'node:crypto';
import * as der from './der.js';
import { OID, encodeExtensions, ext, signStructure, type Extension } from './x509.js';

export interface CrlSpec {
  /** DER of the CA's subject Name. */
  issuer: Buffer;
  caKey: KeyObject;
  /** Key identifier of the CA key, for the CRL's authorityKeyIdentifier. */
  caKeyId: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: number;
  revoked?: { serial: bigint; date: Date }[];
}

/**
 * A v2 CRL (RFC 5280 5.1). Keylime writes an empty one at CA creation; we add the AKI and
 * CRL number that RFC 5280 asks of conforming issuers.
 */
export function buildCrl(spec: CrlSpec): Buffer {
  const extensions: Extension[] = [
    ext.authorityKeyIdentifier(spec.caKeyId),
    { oid: OID.crlNumber, critical: false, value: der.encode(der.int(spec.crlNumber)) },
  ];
  const revoked = spec.revoked ?? [];
  return signStructure(
    (algorithm) =>
      der.seq(
        der.int(1),
        algorithm,
        der.raw(spec.issuer),
        der.time(spec.thisUpdate),
        der.time(spec.nextUpdate),
        ...(revoked.length ? [der.seq(...revoked.map((r) => der.seq(der.int(r.serial), der.time(r.date))))] : []),
        der.explicit(0, encodeExtensions(extensions)),
      ),
    spec.caKey,
  );
}
