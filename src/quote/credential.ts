import { constants, createCipheriv, createECDH, createHmac, hash, publicEncrypt, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { KeylimeError, ParseError } from '../errors.js';
import { TPM_ALG, curveById, hashById, hex16, type HashInfo } from './algorithms.js';
import { TpmReader, TpmWriter } from './marshal.js';
import { parseTpm2bPublic, parseTpm2bPublicBase64, type TpmPublic } from './public.js';

/** tpm2-tools credential file header (what Keylime sends base64-encoded as `blob`). */
export const CREDENTIAL_BLOB_MAGIC = 0xbadcc0de;
export const CREDENTIAL_BLOB_VERSION = 1;

function labelBytes(label: string): Buffer {
  return Buffer.from(label + '\0', 'latin1');
}

/** TPM 2.0 KDFa (SP 800-108 counter mode with HMAC): label gets its terminating NUL, output truncated to bits/8. */
export function kdfa(h: HashInfo, key: Buffer, label: string, contextU: Buffer, contextV: Buffer, bits: number): Buffer {
  const bytes = Math.ceil(bits / 8);
  const fixed = Buffer.concat([labelBytes(label), contextU, contextV, u32(bits)]);
  const out: Buffer[] = [];
  for (let i = 1, got = 0; got < bytes; i++, got += h.size) {
    out.push(createHmac(h.name, key).update(u32(i)).update(fixed).digest());
  }
  return Buffer.concat(out).subarray(0, bytes);
}

/** TPM 2.0 KDFe (SP 800-56A concatenation KDF): H(counter || Z || label\0 || partyU || partyV). */
export function kdfe(h: HashInfo, z: Buffer, label: string, partyU: Buffer, partyV: Buffer, bits: number): Buffer {
  const bytes = Math.ceil(bits / 8);
  const rest = Buffer.concat([z, labelBytes(label), partyU, partyV]);
  const out: Buffer[] = [];
  for (let i = 1, got = 0; got < bytes; i++, got += h.size) out.push(hash(h.name, Buffer.concat([u32(i), rest]), 'buffer'));
  return Buffer.concat(out).subarray(0, bytes);
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

function leftPad(b: Buffer, size: number): Buffer {
  if (b.length >= size) return b;
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}

export interface MakeCredentialOptions {
  /** Randomness for the RSA seed (tests pass a deterministic source). */
  randomBytes?: (n: number) => Buffer;
  /** ECC: the ephemeral private scalar (default: a fresh key). */
  ephemeralPrivateKey?: Buffer;
}

/** The EK given as a parsed TpmPublic, TPM2B_PUBLIC bytes, or Keylime's base64 `ek_tpm`. */
export type EkInput = TpmPublic | Buffer | string;

function resolveEk(ek: EkInput): TpmPublic {
  if (typeof ek === 'string') return parseTpm2bPublicBase64(ek);
  if (Buffer.isBuffer(ek)) return parseTpm2bPublic(ek);
  return ek;
}

/** Seed and its encryption to the EK: RSA-OAEP with label "IDENTITY", or ECDH + KDFe. */
function seedFor(ek: TpmPublic, h: HashInfo, options: MakeCredentialOptions): { seed: Buffer; encSecret: Buffer } {
  const area = ek.area;
  if (area.type === TPM_ALG.RSA) {
    const seed = (options.randomBytes ?? cryptoRandomBytes)(h.size);
    const encSecret = publicEncrypt(
      { key: ek.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: h.name, oaepLabel: labelBytes('IDENTITY') },
      seed,
    );
    return { seed, encSecret };
  }
  const curve = curveById(area.curveId)!;
  const ecdh = createECDH(curve.opensslName);
  if (options.ephemeralPrivateKey) ecdh.setPrivateKey(options.ephemeralPrivateKey);
  else ecdh.generateKeys();
  const ekX = leftPad(area.x, curve.bytes);
  const ekPoint = Buffer.concat([Buffer.from([4]), ekX, leftPad(area.y, curve.bytes)]);
  let z: Buffer;
  try {
    z = leftPad(ecdh.computeSecret(ekPoint), curve.bytes);
  } catch (e) {
    throw new ParseError(`EK point is not usable for ECDH: ${(e as Error).message}`);
  }
  const pub = ecdh.getPublicKey();
  const ephX = pub.subarray(1, 1 + curve.bytes);
  const ephY = pub.subarray(1 + curve.bytes);
  const seed = kdfe(h, z, 'IDENTITY', ephX, ekX, h.size * 8);
  const encSecret = new TpmWriter().tpm2b(ephX, 'x').tpm2b(ephY, 'y').finish();
  return { seed, encSecret };
}

/**
 * TPM2_MakeCredential in software (spec §2.3), the registrar's challenge: wraps `secret`
 * so only the TPM holding `ek` can release it, and only to an object named `akName`.
 * Returns the tpm2-tools credential file (magic 0xBADCC0DE, version 1) that
 * `tpm2_activatecredential -i` reads and Keylime sends as base64 `blob`.
 */
export function makeCredential(ek: EkInput, akName: Buffer, secret: Buffer, options: MakeCredentialOptions = {}): Buffer {
  const ekPub = resolveEk(ek);
  const h = hashById(ekPub.area.nameAlg)!;
  const sym = ekPub.area.symmetric;
  if (sym.alg !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || ![128, 192, 256].includes(sym.keyBits ?? 0)) {
    throw new KeylimeError('invalid_input', `EK symmetric algorithm must be AES-CFB (got ${hex16(sym.alg)}/${sym.mode === undefined ? '-' : hex16(sym.mode)})`);
  }
  if (secret.length === 0 || secret.length > h.size) {
    throw new KeylimeError('invalid_input', `credential must be 1..${h.size} bytes for a ${h.name} EK, got ${secret.length}`);
  }
  if (akName.length < 2 || !hashById(akName.readUInt16BE(0)) || akName.length !== 2 + hashById(akName.readUInt16BE(0))!.size) {
    throw new KeylimeError('invalid_input', 'AK name must be nameAlg || digest');
  }
  const { seed, encSecret } = seedFor(ekPub, h, options);
  const symKey = kdfa(h, seed, 'STORAGE', akName, Buffer.alloc(0), sym.keyBits!);
  const plain = new TpmWriter().tpm2b(secret, 'credential').finish();
  const cipher = createCipheriv(`aes-${sym.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(plain), cipher.final()]);
  const hmacKey = kdfa(h, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), h.size * 8);
  const integrity = createHmac(h.name, hmacKey).update(encIdentity).update(akName).digest();
  const idObject = new TpmWriter().tpm2b(integrity, 'integrityHMAC').bytes(encIdentity).finish();
  return encodeCredentialBlob(idObject, encSecret);
}

/** The parts of a credential file, as TPM2_ActivateCredential takes them. */
export interface CredentialBlob {
  /** TPM2B_ID_OBJECT payload: TPM2B integrity HMAC || encrypted identity. */
  idObject: Buffer;
  integrityHmac: Buffer;
  encIdentity: Buffer;
  /** TPM2B_ENCRYPTED_SECRET payload: RSA-OAEP ciphertext or a marshalled TPMS_ECC_POINT. */
  encryptedSecret: Buffer;
}

export function encodeCredentialBlob(idObject: Buffer, encryptedSecret: Buffer): Buffer {
  return new TpmWriter()
    .u32(CREDENTIAL_BLOB_MAGIC)
    .u32(CREDENTIAL_BLOB_VERSION)
    .tpm2b(idObject, 'idObject')
    .tpm2b(encryptedSecret, 'encryptedSecret')
    .finish();
}

/** Splits the registrar's `blob` (after base64) for activation; checks magic and version. */
export function parseCredentialBlob(blob: Buffer): CredentialBlob {
  const r = new TpmReader(blob);
  const magic = r.u32('credential magic');
  if (magic !== CREDENTIAL_BLOB_MAGIC) throw new ParseError(`credential blob magic is 0x${magic.toString(16)}, not 0xbadcc0de`, 0);
  const version = r.u32('credential version');
  if (version !== CREDENTIAL_BLOB_VERSION) throw new ParseError(`credential blob version ${version} is not supported`, 4);
  const idObject = r.tpm2b('TPM2B_ID_OBJECT');
  const encryptedSecret = r.tpm2b('TPM2B_ENCRYPTED_SECRET');
  r.expectEnd('credential blob');
  const ir = new TpmReader(idObject);
  const integrityHmac = ir.tpm2b('integrityHMAC', 64);
  const encIdentity = ir.bytes(ir.remaining, 'encIdentity');
  if (encIdentity.length < 2) throw new ParseError('credential blob has no encrypted identity', 10 + 2 + integrityHmac.length);
  return { idObject, integrityHmac, encIdentity, encryptedSecret };
}
