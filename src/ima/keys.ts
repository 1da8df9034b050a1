/**
 * IMA signing keys: keyidv2 computation, keyrings, the policy's `verification-keys`
 * (spec §2.5) and keys carried by `ima-buf` entries (spec §1.6).
 */
import crypto, { type KeyObject, X509Certificate } from 'node:crypto';
import { KeylimeError } from '../errors.js';

export interface ImaPublicKey {
  keyid: number;
  key: KeyObject;
  type: 'rsa' | 'ec';
  /** base64 DER SubjectPublicKeyInfo: how keys are persisted. */
  spki: string;
}

/** Keys by keyidv2, in insertion order. A later key with the same id replaces the earlier one. */
export class ImaKeyring {
  readonly keys = new Map<number, ImaPublicKey>();

  add(key: KeyObject, keyid?: number | null): ImaPublicKey {
    const type = supportedType(key);
    if (!type) throw new KeylimeError('invalid_input', `unsupported IMA key type ${key.asymmetricKeyType}`);
    const id = keyid ? keyid >>> 0 : keyidV2(key);
    const entry: ImaPublicKey = { keyid: id, key, type, spki: spkiBase64(key) };
    this.keys.set(id, entry);
    return entry;
  }

  get(keyid: number): ImaPublicKey | undefined {
    return this.keys.get(keyid);
  }

  get size(): number {
    return this.keys.size;
  }

  /** Keylime's ImaKeyring JSON: `{"pubkeys":[b64 spki…],"keyids":[…]}`. */
  toJSON(): SerializedKeyring {
    const pubkeys: string[] = [];
    const keyids: number[] = [];
    for (const [id, k] of this.keys) {
      pubkeys.push(k.spki);
      keyids.push(id);
    }
    return { pubkeys, keyids };
  }

  static fromJSON(data: SerializedKeyring): ImaKeyring {
    const ring = new ImaKeyring();
    data.pubkeys.forEach((b64, i) => {
      const key = cachedSpki(b64);
      if (key) ring.add(key, data.keyids[i]);
    });
    return ring;
  }
}

export interface SerializedKeyring {
  pubkeys: string[];
  keyids: number[];
}

function supportedType(key: KeyObject): 'rsa' | 'ec' | null {
  const t = key.asymmetricKeyType;
  return t === 'rsa' ? 'rsa' : t === 'ec' ? 'ec' : null;
}

function spkiBase64(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).toString('base64');
}

const spkiCache = new Map<string, KeyObject | null>();

/** Learned keys come back from persisted state every poll; parse each only once. */
function cachedSpki(b64: string): KeyObject | null {
  let key = spkiCache.get(b64);
  if (key === undefined) {
    try {
      key = crypto.createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
      if (!supportedType(key)) key = null;
    } catch {
      key = null;
    }
    if (spkiCache.size > 10_000) spkiCache.clear();
    spkiCache.set(b64, key);
  }
  return key;
}

/**
 * keyidv2: the last 4 bytes (big-endian) of SHA-1 over the DER PKCS#1 RSAPublicKey,
 * or over the uncompressed X9.62 point for EC keys.
 */
export function keyidV2(key: KeyObject): number {
  let material: Buffer;
  if (key.asymmetricKeyType === 'rsa') {
    material = key.export({ format: 'der', type: 'pkcs1' });
  } else if (key.asymmetricKeyType === 'ec') {
    material = ecUncompressedPoint(key);
  } else {
    throw new KeylimeError('invalid_input', `unsupported IMA key type ${key.asymmetricKeyType}`);
  }
  return crypto.createHash('sha1').update(material).digest().readUInt32BE(16);
}

function ecUncompressedPoint(key: KeyObject): Buffer {
  // The SPKI's BIT STRING is the encoded point; node exports uncompressed points.
  const jwk = key.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const y = Buffer.from(jwk.y ?? '', 'base64url');
  return Buffer.concat([Buffer.from([0x04]), x, y]);
}

/**
 * Parses the policy's `verification-keys` string (also accepted double-encoded).
 * Returns null for "" and for JSON that is not an object, as Keylime does; keys that
 * do not load or are neither RSA nor EC are skipped. Malformed JSON is an error.
 */
export function parseVerificationKeys(text: string): ImaKeyring | null {
  if (!text) return null;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
    if (typeof obj === 'string') obj = JSON.parse(obj);
  } catch {
    throw new KeylimeError('invalid_input', 'verification-keys is not valid JSON');
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return null;
  const rec = obj as Record<string, unknown>;
  if (!Array.isArray(rec.pubkeys)) throw new KeylimeError('invalid_input', 'verification-keys needs a "pubkeys" list');
  const keyids = Array.isArray(rec.keyids) ? rec.keyids : [];
  const ring = new ImaKeyring();
  rec.pubkeys.forEach((b64, i) => {
    if (typeof b64 !== 'string') return;
    const key = cachedSpki(b64);
    const id = keyids[i];
    if (key) ring.add(key, Number.isInteger(id) ? (id as number) : null);
  });
  return ring;
}

/** Builds a `verification-keys` string from PEM/DER public keys or certificates. */
export function buildVerificationKeys(keys: (string | Buffer)[]): string {
  const ring = new ImaKeyring();
  for (const k of keys) {
    const found = keyFromBytes(Buffer.isBuffer(k) ? k : Buffer.from(k));
    if (!found || 'unsupported' in found) throw new KeylimeError('invalid_input', 'not an RSA or EC public key, certificate or private key');
    ring.add(found.key, found.keyid);
  }
  return JSON.stringify({ meta: { version: 1 }, ...ring.toJSON() });
}

export type KeyFromBytes = { key: KeyObject; keyid: number | null } | { unsupported: string } | null;

const PEM_BEGIN = Buffer.from('-----BEGIN');

/**
 * Interprets bytes as a key the way Keylime does for `ima-buf` entries: DER or PEM
 * X.509 certificate (keyid from its SubjectKeyIdentifier), DER or PEM public key,
 * then DER or PEM private key. null = not a key; `unsupported` = a key of another type.
 */
export function keyFromBytes(data: Buffer): KeyFromBytes {
  const looksDer = data[0] === 0x30;
  const looksPem = data.includes(PEM_BEGIN);
  if (!looksDer && !looksPem) return null;
  const attempts: (() => { key: KeyObject; keyid: number | null })[] = [
    () => {
      const cert = new X509Certificate(data);
      return { key: cert.publicKey, keyid: subjectKeyIdentifierKeyid(cert.raw) };
    },
    () => ({ key: crypto.createPublicKey({ key: data, format: 'der', type: 'spki' }), keyid: null }),
    () => ({ key: crypto.createPublicKey({ key: data, format: 'pem' }), keyid: null }),
    () => ({ key: crypto.createPublicKey(crypto.createPrivateKey({ key: data, format: 'der', type: 'pkcs8' })), keyid: null }),
    () => ({ key: crypto.createPublicKey(crypto.createPrivateKey({ key: data, format: 'der', type: 'pkcs1' })), keyid: null }),
    () => ({ key: crypto.createPublicKey(crypto.createPrivateKey({ key: data, format: 'der', type: 'sec1' })), keyid: null }),
  ];
  for (const attempt of attempts) {
    let found: { key: KeyObject; keyid: number | null };
    try {
      found = attempt();
    } catch {
      continue;
    }
    if (!supportedType(found.key)) return { unsupported: pythonKeyClassName(found.key.asymmetricKeyType) };
    return found;
  }
  return null;
}

function pythonKeyClassName(type: string | undefined): string {
  switch (type) {
    case 'ed25519':
      return 'Ed25519PublicKey';
    case 'ed448':
      return 'Ed448PublicKey';
    case 'x25519':
      return 'X25519PublicKey';
    case 'x448':
      return 'X448PublicKey';
    case 'dsa':
      return 'DSAPublicKey';
    case 'dh':
      return 'DHPublicKey';
    default:
      return `${type ?? 'unknown'}PublicKey`;
  }
}

/** Minimal DER walk to the SubjectKeyIdentifier extension; keyid = its last 4 bytes. */
export function subjectKeyIdentifierKeyid(certDer: Uint8Array): number | null {
  const cert = readTlv(certDer, 0);
  if (!cert || cert.tag !== 0x30) return null;
  const tbs = readTlv(certDer, cert.start);
  if (!tbs || tbs.tag !== 0x30) return null;
  for (let off = tbs.start; off < tbs.end; ) {
    const field = readTlv(certDer, off, tbs.end);
    if (!field) return null;
    if (field.tag === 0xa3) return findSkid(certDer, field.start, field.end);
    off = field.end;
  }
  return null;
}

const SKID_OID = Buffer.from([0x55, 0x1d, 0x0e]);

function findSkid(der: Uint8Array, start: number, end: number): number | null {
  const exts = readTlv(der, start, end);
  if (!exts || exts.tag !== 0x30) return null;
  for (let off = exts.start; off < exts.end; ) {
    const ext = readTlv(der, off, exts.end);
    if (!ext || ext.tag !== 0x30) return null;
    off = ext.end;
    const oid = readTlv(der, ext.start, ext.end);
    if (!oid || oid.tag !== 0x06) return null;
    if (!SKID_OID.equals(der.subarray(oid.start, oid.end))) continue;
    let next = readTlv(der, oid.end, ext.end);
    if (next && next.tag === 0x01) next = readTlv(der, next.end, ext.end);
    if (!next || next.tag !== 0x04) return null;
    const inner = readTlv(der, next.start, next.end);
    if (!inner || inner.tag !== 0x04 || inner.end - inner.start < 4) return null;
    return Buffer.from(der.subarray(inner.end - 4, inner.end)).readUInt32BE(0);
  }
  return null;
}

function readTlv(der: Uint8Array, off: number, limit = der.length): { tag: number; start: number; end: number } | null {
  if (off + 2 > limit) return null;
  const tag = der[off]!;
  let len = der[off + 1]!;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  return end > limit ? null : { tag, start, end };
}
