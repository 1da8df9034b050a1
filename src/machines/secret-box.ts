/**
 * Token secrets at rest: AES-256-GCM under a key the server keeps (0600) in its data
 * directory. The token serial is bound as associated data, so a sealed secret copied
 * onto another token does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes } from 'node:crypto';
import { KeylimeError, invalidInput } from '../errors.js';

export interface SealedSecret {
  alg: 'aes-256-gcm';
  /** base64 of the 12-byte nonce */
  iv: string;
  /** base64 of the 16-byte tag */
  tag: string;
  /** base64 of the ciphertext */
  data: string;
}

export const SECRET_KEY_BYTES = 32;

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== SECRET_KEY_BYTES) {
    throw invalidInput(`the token secret key must be ${SECRET_KEY_BYTES} bytes`);
  }
}

export function generateSecretKey(randomBytes: (size: number) => Buffer = nodeRandomBytes): Buffer {
  return randomBytes(SECRET_KEY_BYTES);
}

/** The key file holds 64 hex characters (whitespace around them is ignored). */
export function parseSecretKeyFile(text: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw invalidInput('the token secret key file must hold 64 hex characters');
  return Buffer.from(hex, 'hex');
}

export function formatSecretKeyFile(key: Buffer): string {
  checkKey(key);
  return `${key.toString('hex')}\n`;
}

export function sealSecret(
  plain: Buffer,
  key: Buffer,
  context = '',
  randomBytes: (size: number) => Buffer = nodeRandomBytes,
): SealedSecret {
  checkKey(key);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { alg: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

function b64Field(value: unknown, name: string, length?: number): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new KeylimeError('internal', `sealed token secret: ${name} is not base64`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (length !== undefined && bytes.length !== length) {
    throw new KeylimeError('internal', `sealed token secret: ${name} must be ${length} bytes`);
  }
  return bytes;
}

/** Opens a sealed secret; a wrong key, a wrong context or tampering is a KeylimeError. */
export function openSecret(sealed: unknown, key: Buffer, context = ''): Buffer {
  checkKey(key);
  if (sealed === null || typeof sealed !== 'object' || (sealed as SealedSecret).alg !== 'aes-256-gcm') {
    throw new KeylimeError('internal', 'sealed token secret: unknown format');
  }
  const s = sealed as SealedSecret;
  const iv = b64Field(s.iv, 'iv', 12);
  const tag = b64Field(s.tag, 'tag', 16);
  const data = b64Field(s.data, 'data');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    throw new KeylimeError('internal', 'the token secret could not be decrypted (wrong key or tampered data)');
  }
}
