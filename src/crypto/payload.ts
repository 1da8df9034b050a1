import { createCipheriv, createDecipheriv, createHmac, publicEncrypt, randomBytes, constants, type KeyObject } from 'node:crypto';
import { KeylimeError } from '../errors.js';

/**
 * The bootstrap key split of keylime-protocol.md §3.3: K = U xor V; the tenant gives U to
 * the agent, the verifier gives V once the agent attests. Neither half alone reveals K.
 */
export interface BootstrapKeys {
  k: Buffer;
  u: Buffer;
  v: Buffer;
}

export function generateBootstrapKeys(random: (n: number) => Buffer = randomBytes): BootstrapKeys {
  const k = random(32);
  const v = random(32);
  const u = xorBuffers(k, v);
  return { k, u, v };
}

export function xorBuffers(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw new KeylimeError('invalid_input', 'U and V must have the same length');
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** auth_tag = hex(HMAC-SHA384(K, agent_id)); the /keys/verify answer uses the same MAC over the challenge. */
export function keyHmacHex(k: Buffer, message: string): string {
  return createHmac('sha384', k).update(message, 'utf8').digest('hex');
}

/** RSA-OAEP with SHA-1 and MGF1-SHA-1, no label: how U and V travel to the agent's NK. */
export function encryptForAgent(nkPublic: KeyObject | string, half: Buffer): string {
  return publicEncrypt({ key: nkPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, half).toString('base64');
}

/** Payload = b64(IV16 || AES-GCM(K, plaintext) || TAG16); AES-256 for a 32-byte K, AES-128 for 16. */
export function encryptPayload(k: Buffer, plaintext: Buffer, iv: Buffer = randomBytes(16)): string {
  const cipher = createCipheriv(k.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', k, iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
}

export function decryptPayload(k: Buffer, payload: Buffer): Buffer {
  if (k.length !== 16 && k.length !== 32) throw new KeylimeError('invalid_input', 'the bootstrap key must be 16 or 32 bytes');
  if (payload.length < 32) throw new KeylimeError('invalid_input', 'the encrypted payload is shorter than its IV and tag');
  const iv = payload.subarray(0, 16);
  const tag = payload.subarray(payload.length - 16);
  const decipher = createDecipheriv(k.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', k, iv);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(payload.subarray(16, payload.length - 16)), decipher.final()]);
  } catch {
    throw new KeylimeError('invalid_input', 'the payload does not decrypt with the bootstrap key (wrong key or tampered data)');
  }
}
