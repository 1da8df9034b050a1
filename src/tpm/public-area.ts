/**
 * The driver's view of TPM2B_PUBLIC (protocol spec §4.5), through the quote core's decoder:
 * type, name algorithm and attributes, and the TPM name, which identifies a key without the
 * TPM (a persistent handle holds "our" AK exactly when its name equals this one).
 */
import { parseTpm2bPublic } from '../quote/index.js';

export { AK_ATTRIBUTES } from '../quote/index.js';

export interface PublicAreaHeader {
  /** TPM_ALG_ID of the key: 0x0001 RSA, 0x0023 ECC. */
  type: number;
  nameAlg: number;
  objectAttributes: number;
}

export function readPublicHeader(tpm2bPublic: Buffer): PublicAreaHeader {
  const { area } = parseTpm2bPublic(tpm2bPublic);
  return { type: area.type, nameAlg: area.nameAlg, objectAttributes: area.objectAttributes };
}

/** TPM name = nameAlg (u16 BE) || H_nameAlg(TPMT_PUBLIC). */
export function objectName(tpm2bPublic: Buffer): Buffer {
  return parseTpm2bPublic(tpm2bPublic).name;
}
