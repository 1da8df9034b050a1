/**
 * DSSE envelopes for signed runtime policies (spec §2.7): ECDSA with SHA-256 over the
 * pre-authentication encoding "DSSEv1 <len> <type> <len> <payload>".
 */
import crypto, { type KeyObject } from 'node:crypto';
import { KeylimeError } from '../errors.js';
import { decodeHexPy } from './hex.js';

export const KEYLIME_PAYLOAD_TYPE = 'application/vnd.keylime+json';

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: DsseSignature[];
}

/** Keylime treats any JSON object with a `payload` key as an envelope. */
export function isDsseEnvelope(obj: unknown): obj is DsseEnvelope {
  return obj !== null && typeof obj === 'object' && !Array.isArray(obj) && 'payload' in obj;
}

export function dssePae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Keylime's payload decoding: hex first, then strict standard base64, then lenient
 * URL-safe base64 (characters outside the alphabet dropped, padding still required).
 */
export function decodeDssePayload(text: string): Buffer {
  const hex = decodeHexPy(text);
  if (hex) return hex;
  if (STRICT_B64.test(text)) return Buffer.from(text, 'base64');
  const kept = text.replace(/[^A-Za-z0-9+/\-_=]/g, '');
  const firstPad = kept.indexOf('=');
  const data = firstPad < 0 ? kept : kept.slice(0, firstPad);
  const pads = firstPad < 0 ? 0 : kept.length - firstPad;
  const rem = data.length % 4;
  if (rem === 1 || (rem !== 0 && pads < 4 - rem)) {
    throw new KeylimeError('invalid_input', 'DSSE payload is neither hex nor base64');
  }
  return Buffer.from(data, 'base64');
}

/** The payload bytes, without any signature check (what the verifier does at attestation time). */
export function extractDssePayload(envelope: DsseEnvelope): Buffer {
  if (typeof envelope.payload !== 'string') throw new KeylimeError('invalid_input', 'DSSE payload must be a string');
  return decodeDssePayload(envelope.payload);
}

function toEcPublicKey(key: KeyObject | string | Buffer): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'object' && 'asymmetricKeyType' in key ? key : crypto.createPublicKey(key as string | Buffer);
  } catch (e) {
    throw new KeylimeError('invalid_input', `cannot read the policy signing key: ${(e as Error).message}`);
  }
  if (k.type === 'private') k = crypto.createPublicKey(k);
  if (k.asymmetricKeyType !== 'ec') throw new KeylimeError('invalid_input', 'the runtime policy signing key must be an EC public key');
  return k;
}

export interface DsseVerification {
  valid: boolean;
  payload: Buffer;
  /** keyid of the first signature that verified. */
  keyid?: string;
}

/**
 * Verifies an envelope with an EC public key (PEM or KeyObject): passes if any
 * signature verifies; keyids are not consulted, as in Keylime. Malformed envelopes
 * throw KeylimeError('invalid_input').
 */
export function verifyDsseEnvelope(envelope: unknown, publicKey: KeyObject | string | Buffer): DsseVerification {
  if (!isDsseEnvelope(envelope)) throw new KeylimeError('invalid_input', 'not a DSSE envelope (no "payload")');
  const key = toEcPublicKey(publicKey);
  const payload = extractDssePayload(envelope);
  const payloadType = typeof envelope.payloadType === 'string' ? envelope.payloadType : '';
  const pae = dssePae(payloadType, payload);
  const sigs = Array.isArray(envelope.signatures) ? envelope.signatures : [];
  for (const s of sigs) {
    if (!s || typeof s.sig !== 'string') continue;
    let ok = false;
    try {
      ok = crypto.verify('sha256', pae, { key, dsaEncoding: 'der' }, Buffer.from(s.sig, 'base64'));
    } catch {
      ok = false;
    }
    if (ok) return { valid: true, payload, keyid: typeof s.keyid === 'string' ? s.keyid : '' };
  }
  return { valid: false, payload };
}

/** Keylime's `ecdsa` backend keyid: sha256 hex of the PEM SubjectPublicKeyInfo text. */
export function dsseKeyid(publicKey: KeyObject): string {
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  return crypto.createHash('sha256').update(pem).digest('hex');
}

/** Signs policy bytes into an envelope (EC private key; always SHA-256, DER signature). */
export function signDsseEnvelope(payload: Uint8Array, privateKey: KeyObject | string | Buffer, payloadType = KEYLIME_PAYLOAD_TYPE): DsseEnvelope {
  let key: KeyObject;
  try {
    key = typeof privateKey === 'object' && 'asymmetricKeyType' in privateKey ? privateKey : crypto.createPrivateKey(privateKey as string | Buffer);
  } catch (e) {
    throw new KeylimeError('invalid_input', `cannot read the policy signing key: ${(e as Error).message}`);
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec') {
    throw new KeylimeError('invalid_input', 'runtime policies are signed with an EC private key');
  }
  const sig = crypto.sign('sha256', dssePae(payloadType, payload), { key, dsaEncoding: 'der' });
  return {
    payload: Buffer.from(payload).toString('base64'),
    payloadType,
    signatures: [{ keyid: dsseKeyid(crypto.createPublicKey(key)), sig: sig.toString('base64') }],
  };
}
