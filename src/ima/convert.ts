/**
 * Legacy allow-list and exclude-list conversion into runtime policy v1 (spec §2.2),
 * following `keylime_convert_runtime_policy`.
 */
import { KeylimeError } from '../errors.js';
import { ImaKeyring, keyFromBytes, parseVerificationKeys } from './keys.js';
import { emptyRuntimePolicy, RUNTIME_POLICY_CURRENT_VERSION, RuntimePolicyGenerator, type RuntimePolicy } from './policy.js';

/** Python `str.isspace()` characters, for `strip()` / `split()` without arguments. */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');
const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`);
/** Python `str.splitlines()` separators. */
const PY_LINES = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

/** `str(datetime.datetime.now())`: local time with microseconds. */
export function pythonTimestamp(now: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())} ${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}.${p(now.getMilliseconds() * 1000, 6)}`;
}

export interface ConvertOptions {
  /** Clock for meta.timestamp (injectable for tests). */
  now?: () => Date;
}

function freshPolicy(generator: number, options: ConvertOptions): RuntimePolicy {
  const policy = emptyRuntimePolicy();
  policy.meta.generator = generator;
  policy.meta.timestamp = pythonTimestamp((options.now ?? (() => new Date()))());
  return policy;
}

/**
 * Converts a legacy allow-list: JSON with `hashes` (copied to `digests`, other known
 * keys carried over) or the flat `<digest> <path>` format (sha*sum output; paths
 * starting `%keyring:` go to `keyrings`). A JSON object that already has `digests` is
 * a runtime policy and is rejected.
 */
export function convertLegacyAllowlist(text: string, options: ConvertOptions = {}): RuntimePolicy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return convertFlatAllowlist(text, options);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new KeylimeError('invalid_input', 'the allow-list is JSON but not an object');
  }
  const obj = json as Record<string, unknown>;
  if (truthy(obj.hashes)) return convertJsonAllowlist(obj, options);
  if (truthy(obj.digests)) throw new KeylimeError('invalid_input', 'this file is already a runtime policy (it has "digests")');
  throw new KeylimeError('invalid_input', 'the allow-list does not contain a valid digest list ("hashes")');
}

/** Python truthiness for JSON values. */
function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

function convertJsonAllowlist(obj: Record<string, unknown>, options: ConvertOptions): RuntimePolicy {
  const policy = freshPolicy(RuntimePolicyGenerator.LegacyAllowList, options);
  const target = policy as unknown as Record<string, unknown>;
  for (const key of Object.keys(policy)) {
    if (key === 'meta') continue;
    const source = key === 'digests' ? obj.hashes : obj[key];
    if (truthy(source)) target[key] = source;
  }
  return policy;
}

export function convertFlatAllowlist(text: string, options: ConvertOptions = {}): RuntimePolicy {
  const policy = freshPolicy(RuntimePolicyGenerator.LegacyAllowList, options);
  for (const raw of text.split(PY_LINES)) {
    const line = pyStrip(raw);
    if (line === '') continue;
    const pieces = splitOnce(line);
    if (!pieces) continue;
    let [digest, path] = pieces;
    let map = policy.digests;
    if (path.startsWith('%keyring:')) {
      map = policy.keyrings;
      path = path.slice('%keyring:'.length);
    }
    (map[path] ??= []).push(digest);
  }
  return policy;
}

/** `line.split(None, 1)` on an already stripped line. */
function splitOnce(line: string): [string, string] | null {
  const m = PY_SPACE_RUN.exec(line);
  if (!m) return null;
  return [line.slice(0, m.index), line.slice(m.index + m[0].length)];
}

/** An exclude list file: one Python regex per line; blank and `#` lines skipped. */
export function parseExcludeList(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = pyStrip(raw);
    if (line === '' || line.startsWith('#')) continue;
    out.push(line);
  }
  return out;
}

export interface UpdatePolicyOptions extends ConvertOptions {
  /** Regexes appended to `excludes`. */
  excludes?: readonly string[];
  /** PEM/DER public keys, certificates or private keys added to `verification-keys`. */
  verificationKeys?: readonly (string | Buffer)[];
}

/**
 * Brings a policy object to version 1 (rebuilding onto an empty v1 policy, generator 2,
 * when meta.version < 1) and adds excludes and verification keys.
 */
export function updateRuntimePolicy(input: Record<string, unknown>, options: UpdatePolicyOptions = {}): RuntimePolicy {
  const meta = input.meta as Record<string, unknown> | undefined;
  const version = meta && typeof meta.version === 'number' ? meta.version : NaN;
  if (!(version >= 0)) throw new KeylimeError('invalid_input', 'the policy has no numeric meta.version');
  let policy: RuntimePolicy;
  if (version < RUNTIME_POLICY_CURRENT_VERSION) {
    policy = freshPolicy(RuntimePolicyGenerator.CompatibleAllowList, options);
    const target = policy as unknown as Record<string, unknown>;
    for (const key of Object.keys(policy)) {
      if (key !== 'meta' && truthy(input[key])) target[key] = input[key];
    }
  } else {
    policy = structuredClone(input) as unknown as RuntimePolicy;
  }
  if (!Array.isArray(policy.excludes)) policy.excludes = [];
  policy.excludes = [...policy.excludes, ...(options.excludes ?? [])];
  if (options.verificationKeys?.length) {
    const existing = policy['verification-keys'] ? parseVerificationKeys(policy['verification-keys']) : null;
    const ring = existing ?? new ImaKeyring();
    for (const k of options.verificationKeys) {
      const found = keyFromBytes(Buffer.isBuffer(k) ? k : Buffer.from(k));
      if (!found) throw new KeylimeError('invalid_input', 'a verification key file holds no key');
      if ('unsupported' in found) throw new KeylimeError('invalid_input', `unsupported verification key type ${found.unsupported}`);
      ring.add(found.key, found.keyid);
    }
    policy['verification-keys'] = JSON.stringify(ring.toJSON());
  }
  return policy;
}
