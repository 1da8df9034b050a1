import { createCipheriv, createDecipheriv, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { KeylimeError, ParseError } from '../errors.js';
import { emitYamlMapping, parseYamlMapping, type YamlValue } from './keystore-yaml.js';

/**
 * Keylime's CA keystore, `cv_ca/private.yml` (spec §10.1): YAML `{priv, salt}` where
 * priv = b64(IV16 ‖ AES-256-GCM(YAML dict) ‖ tag16) and the key is
 * PBKDF2-HMAC-SHA256(password, salt as UTF-8 text, 100000, 32 bytes). The dict holds the CA
 * key (`ca`), every issued key by name (PEM as bytes), `lastserial` and `revoked_keys`.
 * Keys Keylime may add that we do not know are kept as they are.
 */
export const DEFAULT_CA_PASSWORD = 'default';
const KDF_ITERATIONS = 100_000;
const pbkdf2Async = promisify(pbkdf2);

export interface CaKeystore {
  /** The salt as stored: Keylime writes base64 text (very old releases wrote bytes). */
  salt: string | Buffer;
  entries: Map<string, YamlValue>;
}

export function newKeystore(): CaKeystore {
  return { salt: randomBytes(32).toString('base64'), entries: new Map<string, YamlValue>([['revoked_keys', []]]) };
}

function deriveKey(password: string, salt: string | Buffer): Promise<Buffer> {
  const saltBytes = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : salt;
  return pbkdf2Async(Buffer.from(password, 'utf8'), saltBytes, KDF_ITERATIONS, 32, 'sha256');
}

export async function sealKeystore(ks: CaKeystore, password: string = DEFAULT_CA_PASSWORD): Promise<string> {
  const key = await deriveKey(password, ks.salt);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(emitYamlMapping(ks.entries), 'utf8'), cipher.final()]);
  const blob = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  // Keylime's encrypt() returns base64 *bytes*, which PyYAML writes as !!binary.
  return emitYamlMapping(new Map<string, YamlValue>([['priv', Buffer.from(blob, 'ascii')], ['salt', ks.salt]]));
}

export async function openKeystore(text: string, password: string = DEFAULT_CA_PASSWORD): Promise<CaKeystore> {
  const outer = parseYamlMapping(text);
  const salt = outer.get('salt');
  const priv = outer.get('priv');
  if (typeof salt !== 'string' && !Buffer.isBuffer(salt)) throw new ParseError('private.yml has no salt');
  const privText = Buffer.isBuffer(priv) ? priv.toString('latin1') : priv;
  if (typeof privText !== 'string') throw new ParseError('private.yml has no priv');
  const b64 = privText.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new ParseError('private.yml priv is not base64');
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 32) throw new ParseError('private.yml priv is too short to hold IV and tag');

  const key = await deriveKey(password, salt);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 16));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    plain = Buffer.concat([decipher.update(blob.subarray(16, blob.length - 16)), decipher.final()]);
  } catch {
    throw new KeylimeError('unauthorized', 'cannot open the CA keystore private.yml: wrong password or damaged file');
  }
  return { salt, entries: parseYamlMapping(plain.toString('utf8')) };
}

/** A PEM stored under `name` (Keylime stores bytes; tolerate text). */
export function keystorePem(ks: CaKeystore, name: string): string | undefined {
  const v = ks.entries.get(name);
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return typeof v === 'string' ? v : undefined;
}

export function setKeystorePem(ks: CaKeystore, name: string, pem: string): void {
  ks.entries.set(name, Buffer.from(pem, 'utf8'));
}

export function lastSerial(ks: CaKeystore): number {
  const v = ks.entries.get('lastserial') ?? 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ParseError('private.yml lastserial is not a serial number');
  return v;
}

export function revokedSerials(ks: CaKeystore): string[] {
  const v = ks.entries.get('revoked_keys');
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ParseError('private.yml revoked_keys is not a list');
  return v.map((s) => String(s));
}
