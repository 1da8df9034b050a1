/**
 * Just enough of TPM2B_PUBLIC (protocol spec §4.5) for the TPM driver: the object's type,
 * name algorithm and attributes, and its TPM name, which identifies a key without the TPM
 * (a persistent handle holds "our" AK exactly when its name equals this one).
 */
import { createHash } from 'node:crypto';
import { ParseError } from '../errors.js';
import { hashAlgFromId } from './algorithms.js';

export interface PublicAreaHeader {
  /** TPM_ALG_ID of the key: 0x0001 RSA, 0x0023 ECC. */
  type: number;
  nameAlg: number;
  objectAttributes: number;
}

/** fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign. */
export const AK_ATTRIBUTES = 0x00050072;

/** The TPMT_PUBLIC inside a TPM2B_PUBLIC, checked against its size prefix. */
function publicArea(tpm2bPublic: Buffer): Buffer {
  if (tpm2bPublic.length < 2) throw new ParseError('TPM2B_PUBLIC shorter than its size field', 0);
  const size = tpm2bPublic.readUInt16BE(0);
  if (size + 2 !== tpm2bPublic.length) {
    throw new ParseError(`TPM2B_PUBLIC size field says ${size} bytes but ${tpm2bPublic.length - 2} follow`, 0);
  }
  if (size < 8) throw new ParseError('TPMT_PUBLIC too short for type, nameAlg and attributes', 2);
  return tpm2bPublic.subarray(2);
}

export function readPublicHeader(tpm2bPublic: Buffer): PublicAreaHeader {
  const area = publicArea(tpm2bPublic);
  return { type: area.readUInt16BE(0), nameAlg: area.readUInt16BE(2), objectAttributes: area.readUInt32BE(4) };
}

/** TPM name = nameAlg (u16 BE) || H_nameAlg(TPMT_PUBLIC). */
export function objectName(tpm2bPublic: Buffer): Buffer {
  const area = publicArea(tpm2bPublic);
  const nameAlg = area.readUInt16BE(2);
  const hash = hashAlgFromId(nameAlg);
  if (!hash) throw new ParseError(`name algorithm 0x${nameAlg.toString(16).padStart(4, '0')} is not supported`, 4);
  const alg = Buffer.alloc(2);
  alg.writeUInt16BE(nameAlg);
  return Buffer.concat([alg, createHash(hash).update(area).digest()]);
}
