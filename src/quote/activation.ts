import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';

/** Keylime's `random_password` alphabet: A-Z, 0-9, a-z. */
export const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Keylime's `random_password(length)`: each char is alphabet[byte % 62]. The slight
 * modulo bias is Keylime's; it is kept so secrets look the same on the wire. Used for
 * quote nonces (20 chars) and the registrar's challenge (32 chars).
 */
export function randomPassword(length: number, randomBytes: (n: number) => Buffer = cryptoRandomBytes): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[bytes[i]! % PASSWORD_ALPHABET.length];
  return out;
}

/** The registrar's 32-character challenge secret (the MakeCredential credential). */
export function generateChallengeSecret(randomBytes?: (n: number) => Buffer): string {
  return randomPassword(32, randomBytes);
}

/** What the registrar stores as `key`: base64 of the challenge's ASCII bytes (44 chars). */
export function challengeKey(secretAscii: string): string {
  return Buffer.from(secretAscii, 'latin1').toString('base64');
}

/** hex(HMAC-SHA384(key, agent_id)) — the ukey `auth_tag` takes K bytes, activation takes the key string's ASCII. */
export function hmacSha384Hex(key: Buffer | string, message: string): string {
  return createHmac('sha384', typeof key === 'string' ? Buffer.from(key, 'utf8') : key).update(message, 'utf8').digest('hex');
}

/**
 * Spec §2.4: the agent's activation `auth_tag`, from the secret TPM2_ActivateCredential
 * released: hex(HMAC-SHA384(key = b64(secret) as ASCII, msg = agent_id)).
 */
export function authTag(secretAscii: string, agentId: string): string {
  return hmacSha384Hex(challengeKey(secretAscii), agentId);
}

/** The registrar's side of the same computation, from its stored `key`. */
export function authTagFromKey(storedKey: string, agentId: string): string {
  return hmacSha384Hex(storedKey, agentId);
}

/**
 * Constant-time string compare for hex tags (like Python's `hmac.compare_digest` on str:
 * exact, so case matters). Lengths are compared first; that leaks only the length.
 */
export function safeEqualHex(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ba.length !== bb.length) return false;
  return timingSafeEqual(ba, bb);
}
