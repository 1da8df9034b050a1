/**
 * The bootstrap key K (protocol spec §3.3). The tenant sends U (with auth_tag and maybe a
 * payload), the verifier sends V, each RSA-OAEP(SHA-1) encrypted to the agent's NK, in
 * either order and possibly more than once. Every arrival is kept and every (U, V) pair
 * tried: K = U xor V is accepted when HMAC-SHA384(K, agent id) equals U's auth_tag.
 */
import { constants, createHmac, privateDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { invalidInput } from '../../errors.js';
import { decodeBase64Strict } from '../../quote/index.js';

const AUTH_TAG_BYTES = 48;
/** Pending halves kept per list; the oldest is dropped beyond this, so a flood cannot grow memory. */
const MAX_PENDING = 32;

export interface UKeyRequest {
  key: Buffer;
  authTag: Buffer;
  payload: Buffer | undefined;
}

export interface AcceptedKey {
  key: Buffer;
  /** The encrypted payload that came with the matching U, if any. */
  payload: Buffer | undefined;
}

function field(body: unknown, name: string, required: true): string;
function field(body: unknown, name: string, required: false): string | undefined;
function field(body: unknown, name: string, required: boolean): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidInput('Request body must be a JSON object');
  const value = (body as Record<string, unknown>)[name];
  if (value === undefined || value === null) {
    if (required) throw invalidInput(`Missing field '${name}' in request body`);
    return undefined;
  }
  if (typeof value !== 'string') throw invalidInput(`Field '${name}' must be a string`);
  return value;
}

function base64Field(text: string, name: string): Buffer {
  try {
    return decodeBase64Strict(text, name);
  } catch (e) {
    throw invalidInput(`Invalid base64 encoding in ${name}: ${(e as Error).message}`);
  }
}

/** RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label: how tenant and verifier wrap U and V. */
function decryptHalf(nk: KeyObject, b64: string, invalidKeyPrefix: string): Buffer {
  const wrapped = base64Field(b64, 'encrypted_key');
  let key: Buffer;
  try {
    key = privateDecrypt({ key: nk, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, wrapped);
  } catch (e) {
    throw invalidInput(`Failed to decrypt encrypted_key: ${(e as Error).message}`);
  }
  if (key.length !== 16 && key.length !== 32) {
    throw invalidInput(`${invalidKeyPrefix}: ${key.length} bytes, a key half is 16 or 32 bytes`);
  }
  return key;
}

/** POST /keys/ukey body: {auth_tag, encrypted_key, payload?}, checked in the Rust agent's order. */
export function parseUKey(nk: KeyObject, body: unknown): UKeyRequest {
  const encrypted = field(body, 'encrypted_key', true);
  const tagText = field(body, 'auth_tag', true);
  const payloadText = field(body, 'payload', false);
  const key = decryptHalf(nk, encrypted, 'Invalid decrypted key');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(tagText)) throw invalidInput(`Invalid hex encoding in auth_tag: ${JSON.stringify(tagText.slice(0, 120))}`);
  const authTag = Buffer.from(tagText, 'hex');
  if (authTag.length !== AUTH_TAG_BYTES) {
    throw invalidInput(`Invalid auth_tag length: ${authTag.length} bytes, HMAC-SHA384 is ${AUTH_TAG_BYTES}`);
  }
  const payload = payloadText === undefined || payloadText === '' ? undefined : base64Field(payloadText, 'payload');
  return { key, authTag, payload };
}

/** POST /keys/vkey body: {encrypted_key}. */
export function parseVKey(nk: KeyObject, body: unknown): Buffer {
  return decryptHalf(nk, field(body, 'encrypted_key', true), 'Decrypted key is invalid');
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export class BootstrapKeys {
  private us: UKeyRequest[] = [];
  private vs: Buffer[] = [];
  private k: Buffer | undefined;

  constructor(private readonly agentId: string) {}

  /** K once a pair matched (a later match replaces it). */
  get key(): Buffer | undefined {
    return this.k;
  }

  addU(u: UKeyRequest): AcceptedKey | undefined {
    push(this.us, u);
    return this.combine();
  }

  addV(v: Buffer): AcceptedKey | undefined {
    push(this.vs, v);
    return this.combine();
  }

  /** GET /keys/verify: hex(HMAC-SHA384(K, challenge)), or undefined before K exists. */
  challengeHmac(challenge: string): string | undefined {
    return this.k && createHmac('sha384', this.k).update(challenge, 'utf8').digest('hex');
  }

  private combine(): AcceptedKey | undefined {
    for (const u of this.us) {
      for (const v of this.vs) {
        if (u.key.length !== v.length) continue;
        const k = xor(u.key, v);
        const mac = createHmac('sha384', k).update(this.agentId, 'utf8').digest();
        if (timingSafeEqual(mac, u.authTag)) {
          this.us = [];
          this.vs = [];
          this.k = k;
          return { key: k, payload: u.payload };
        }
      }
    }
    return undefined;
  }
}

function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_PENDING) list.shift();
}
