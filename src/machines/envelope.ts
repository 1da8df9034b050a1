/**
 * privacyIDEA's JSON-RPC-style envelopes (spec §1.3, §1.4) and their response signature:
 * RSA-PSS (SHA-256, MGF1-SHA256, maximum salt) over Python's
 * `json.dumps(content, sort_keys=True)` of the parsed body, hex, prefixed `rsa_sha256_pss:`.
 * Builders return the HTTP status and a body; the server only serialises.
 */
import { constants, sign, verify, type KeyLike } from 'node:crypto';
import { toPrivacyIdeaError } from './errors.js';
import { compareCodePoints, pyFloatRepr, pyTruthy } from './python.js';

/** The privacyIDEA version we answer as; clients only display it. */
export const PRIVACYIDEA_COMPAT_VERSION = '3.12';
export const SIGNATURE_PREFIX = 'rsa_sha256_pss:';
export const ENVELOPE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'cache-control': 'no-cache',
};

export interface EnvelopeOptions {
  versionNumber?: string;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** The audit signing key; without it the envelope carries no signature (and no nonce). */
  signingKey?: KeyLike;
  /** The request's `nonce` parameter, echoed (and signed) when truthy. */
  nonce?: unknown;
  /** Success `detail`; emitted only when non-empty, together with `threadid`. */
  detail?: Record<string, unknown>;
  threadId?: number;
  /** Extra top-level members such as `auth_items` of /validate/offlinerefill. */
  extra?: Record<string, unknown>;
}

export interface EnvelopeResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: Record<string, unknown>;
}

export function successEnvelope(value: unknown, options: EnvelopeOptions = {}): EnvelopeResponse {
  const version = options.versionNumber ?? PRIVACYIDEA_COMPAT_VERSION;
  const body: Record<string, unknown> = {
    id: 1,
    jsonrpc: '2.0',
    result: { status: true, value },
    time: (options.now ?? Date.now)() / 1000,
    version: `privacyIDEA ${version}`,
    versionnumber: version,
  };
  if (options.detail && Object.keys(options.detail).length > 0) {
    body.detail = { ...options.detail, threadid: options.threadId ?? process.pid };
  }
  Object.assign(body, options.extra ?? {});
  return { status: 200, headers: ENVELOPE_HEADERS, body: finish(body, options) };
}

/** The error envelope of any thrown value; unknown failures become the generic 500. */
export function errorEnvelope(error: unknown, options: EnvelopeOptions = {}): EnvelopeResponse {
  const pi = toPrivacyIdeaError(error);
  const version = options.versionNumber ?? PRIVACYIDEA_COMPAT_VERSION;
  const body: Record<string, unknown> = {
    detail: pi.detail,
    id: 1,
    jsonrpc: '2.0',
    result: { status: false, error: { code: pi.code, message: pi.message } },
    time: (options.now ?? Date.now)() / 1000,
    version: `privacyIDEA ${version}`,
  };
  return { status: pi.status, headers: ENVELOPE_HEADERS, body: finish(body, options) };
}

function finish(body: Record<string, unknown>, options: EnvelopeOptions): Record<string, unknown> {
  if (!options.signingKey) return body;
  // privacyIDEA signs what a client will parse back, so sign the JSON round trip.
  const content = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
  if (pyTruthy(options.nonce)) content.nonce = options.nonce;
  content.signature = signContent(content, options.signingKey);
  return content;
}

function signContent(content: Record<string, unknown>, key: KeyLike): string {
  const data = Buffer.from(pythonJsonDumps(content), 'utf8');
  const signature = sign('sha256', data, {
    key: key as never,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN,
  });
  return SIGNATURE_PREFIX + signature.toString('hex');
}

/** Checks a parsed envelope's signature the way a privacyIDEA client does. */
export function verifyEnvelopeSignature(parsedBody: Record<string, unknown>, publicKey: KeyLike): boolean {
  const signature = parsedBody.signature;
  if (typeof signature !== 'string' || !signature.startsWith(SIGNATURE_PREFIX)) return false;
  const hex = signature.slice(SIGNATURE_PREFIX.length);
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return false;
  const { signature: _drop, ...content } = parsedBody;
  try {
    return verify('sha256', Buffer.from(pythonJsonDumps(content), 'utf8'), {
      key: publicKey as never,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_AUTO,
    }, Buffer.from(hex, 'hex'));
  } catch {
    return false;
  }
}

/**
 * Python's `json.dumps(value, sort_keys=True)`: separators ", " and ": ", keys in code
 * point order, non-ASCII escaped as \uXXXX, floats in repr form. Integers print as
 * integers, matching what Python parses from JavaScript's JSON output.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'null';
    return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
  }
  if (typeof value === 'string') return pythonJsonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object).sort(compareCodePoints);
    const record = value as Record<string, unknown>;
    return `{${keys.map((k) => `${pythonJsonString(k)}: ${pythonJsonDumps(record[k])}`).join(', ')}}`;
  }
  return 'null';
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const unit = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short) out += short;
    else if (unit < 0x20 || unit > 0x7e) out += `\\u${unit.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** The body as sent: JSON with keys sorted, as privacyIDEA emits it. */
export function serializeEnvelope(body: Record<string, unknown>): string {
  return JSON.stringify(sortKeysDeep(body));
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort(compareCodePoints)) {
    Object.defineProperty(sorted, key, {
      value: sortKeysDeep((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return sorted;
}
