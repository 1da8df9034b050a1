/**
 * Runtime policies, format version 1 (spec §2.1): the JSON shape, Keylime's schema
 * check for uploads, and compilation into a form that is cheap to evaluate many times
 * (a verifier shares one compiled policy between all agents that use it).
 */
import crypto from 'node:crypto';
import { KeylimeError } from '../errors.js';
import { isHashAlg, type HashAlg } from './hash-algs.js';
import { ImaKeyring, parseVerificationKeys } from './keys.js';
import { compileExcludes, PythonRegexError } from './pyregex.js';
import { extractDssePayload, isDsseEnvelope } from './dsse.js';

export const RUNTIME_POLICY_CURRENT_VERSION = 1;

/** `meta.generator`: who made the policy. Values above 1 mean "a real policy". */
export const RuntimePolicyGenerator = {
  Unknown: 0,
  EmptyAllowList: 1,
  CompatibleAllowList: 2,
  LegacyAllowList: 3,
} as const;

export type DigestMap = Record<string, string[]>;

export interface RuntimePolicy {
  meta: { version: number; generator: number; timestamp?: string };
  release: number;
  digests: DigestMap;
  excludes: string[];
  keyrings: DigestMap;
  ima: { ignored_keyrings: string[]; log_hash_alg: HashAlg; dm_policy: null };
  'ima-buf': DigestMap;
  'verification-keys': string;
}

/** The policy Keylime substitutes when an agent has none: every file fails unless excluded. */
export function emptyRuntimePolicy(): RuntimePolicy {
  return {
    meta: { version: RUNTIME_POLICY_CURRENT_VERSION, generator: RuntimePolicyGenerator.EmptyAllowList },
    release: 0,
    digests: {},
    excludes: [],
    keyrings: {},
    ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
    'ima-buf': {},
    'verification-keys': '',
  };
}

const HEX_DIGEST = /^[0-9a-f]{40,128}$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0;
}

function checkDigestMap(where: string, v: unknown, problems: string[]): void {
  if (!isPlainObject(v)) {
    problems.push(`${where} must be an object of path -> [hex digests]`);
    return;
  }
  for (const [path, list] of Object.entries(v)) {
    if (!Array.isArray(list) || list.length === 0) {
      problems.push(`${where}[${JSON.stringify(path)}] must be a non-empty list`);
      continue;
    }
    for (const d of list) {
      if (typeof d !== 'string' || !HEX_DIGEST.test(d)) {
        problems.push(`${where}[${JSON.stringify(path)}] has ${JSON.stringify(d)}, not lowercase hex of 40..128 digits`);
      }
    }
  }
}

/**
 * Keylime's RUNTIME_POLICY_SCHEMA plus what Keylime fails to check: excludes that
 * Python cannot compile, excludes we cannot translate, and unreadable
 * verification-keys. Returns the problems; an empty list means valid.
 */
export function validateRuntimePolicy(policy: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(policy)) return ['runtime policy must be a JSON object'];
  const p = policy;
  for (const key of ['meta', 'release', 'digests', 'excludes', 'keyrings', 'ima', 'ima-buf', 'verification-keys']) {
    if (!(key in p)) problems.push(`missing required key "${key}"`);
  }
  if ('meta' in p) {
    const meta = p.meta;
    if (!isPlainObject(meta)) problems.push('meta must be an object');
    else {
      if (!isNonNegInt(meta.version)) problems.push('meta.version must be an integer >= 0');
      if (!Number.isInteger(meta.generator) || (meta.generator as number) < 0 || (meta.generator as number) > 3) {
        problems.push('meta.generator must be an integer 0..3');
      }
      if ('timestamp' in meta && typeof meta.timestamp !== 'string') problems.push('meta.timestamp must be a string');
    }
  }
  if ('release' in p && !isNonNegInt(p.release)) problems.push('release must be an integer >= 0');
  if ('digests' in p) checkDigestMap('digests', p.digests, problems);
  if ('keyrings' in p) checkDigestMap('keyrings', p.keyrings, problems);
  if ('ima-buf' in p) checkDigestMap('ima-buf', p['ima-buf'], problems);
  if ('excludes' in p) {
    if (!Array.isArray(p.excludes) || p.excludes.some((e) => typeof e !== 'string')) problems.push('excludes must be a list of strings');
    else {
      try {
        compileExcludes(p.excludes as string[]);
      } catch (e) {
        if (e instanceof PythonRegexError) problems.push(`excludes: ${e.message}`);
        else throw e;
      }
    }
  }
  if ('ima' in p) {
    const ima = p.ima;
    if (!isPlainObject(ima)) problems.push('ima must be an object');
    else {
      if (!Array.isArray(ima.ignored_keyrings) || ima.ignored_keyrings.some((k) => typeof k !== 'string')) {
        problems.push('ima.ignored_keyrings must be a list of strings');
      }
      if (!isHashAlg(ima.log_hash_alg)) problems.push('ima.log_hash_alg must be one of sha1, sha256, sha384, sha512');
      if (!('dm_policy' in ima) || ima.dm_policy !== null) problems.push('ima.dm_policy must be null');
    }
  }
  if ('verification-keys' in p) {
    const vk = p['verification-keys'];
    if (typeof vk !== 'string') problems.push('verification-keys must be a string');
    else {
      try {
        parseVerificationKeys(vk);
      } catch (e) {
        problems.push(`verification-keys: ${(e as Error).message}`);
      }
    }
  }
  return problems;
}

/**
 * Reads a runtime policy as uploaded: JSON text or bytes, possibly a DSSE envelope
 * (whose payload is extracted WITHOUT checking the signature: use verifyDsseEnvelope
 * for that). Throws KeylimeError('invalid_input') listing every schema problem.
 */
export function parseRuntimePolicy(raw: string | Uint8Array): RuntimePolicy {
  let obj = parseJson(raw, 'runtime policy');
  if (isDsseEnvelope(obj)) obj = parseJson(extractDssePayload(obj), 'runtime policy payload');
  const problems = validateRuntimePolicy(obj);
  if (problems.length) {
    throw new KeylimeError('invalid_input', `invalid runtime policy: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, {
      details: { problems },
    });
  }
  return obj as RuntimePolicy;
}

export function parseJson(raw: string | Uint8Array, what: string): unknown {
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new KeylimeError('invalid_input', `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Keylime's policy checksum: sha256 over the raw bytes as stored (the envelope if signed). */
export function runtimePolicyChecksum(raw: string | Uint8Array): string {
  return crypto.createHash('sha256').update(raw).digest('hex');
}

export interface CompiledRuntimePolicy {
  readonly policy: RuntimePolicy;
  readonly logHashAlg: HashAlg;
  readonly digests: ReadonlyMap<string, readonly string[]>;
  readonly keyrings: ReadonlyMap<string, readonly string[]>;
  readonly imaBuf: ReadonlyMap<string, readonly string[]>;
  /** One regex for all excludes, Python `re.match` semantics; null = none. */
  readonly exclude: RegExp | null;
  readonly ignoredKeyrings: ReadonlySet<string>;
  readonly verificationKeys: ImaKeyring | null;
  /** Where Keylime would silently fall back (bad log_hash_alg, uncompilable excludes). */
  readonly warnings: readonly string[];
}

function toLookup(v: unknown): Map<string, readonly string[]> {
  const map = new Map<string, readonly string[]>();
  if (!isPlainObject(v)) return map;
  for (const [k, list] of Object.entries(v)) {
    map.set(k, Array.isArray(list) ? list.filter((d): d is string => typeof d === 'string') : []);
  }
  return map;
}

/**
 * Compiles a stored policy once for many evaluations. Lenient where Keylime is lenient
 * at evaluation time: an unknown log_hash_alg becomes sha1 and excludes that Python
 * cannot compile are ignored, each with a warning. Throws a PythonRegexError only for
 * excludes Python accepts but JavaScript cannot express, since evaluating without them
 * would silently differ from Keylime.
 */
export function compileRuntimePolicy(policy: RuntimePolicy): CompiledRuntimePolicy {
  const warnings: string[] = [];
  const ima = isPlainObject(policy.ima) ? policy.ima : ({} as RuntimePolicy['ima']);
  let logHashAlg: HashAlg = 'sha1';
  if (isHashAlg(ima.log_hash_alg)) logHashAlg = ima.log_hash_alg;
  else warnings.push(`ima.log_hash_alg ${JSON.stringify(ima.log_hash_alg)} is not valid; using sha1`);

  let exclude: RegExp | null = null;
  const excludes = Array.isArray(policy.excludes) ? policy.excludes.filter((e) => typeof e === 'string') : [];
  try {
    exclude = compileExcludes(excludes);
  } catch (e) {
    if (!(e instanceof PythonRegexError) || e.kind !== 'invalid') throw e;
    warnings.push(`excludes ignored: ${e.message}`);
  }

  let verificationKeys: ImaKeyring | null = null;
  const vk = policy['verification-keys'];
  if (typeof vk === 'string' && vk !== '') {
    try {
      verificationKeys = parseVerificationKeys(vk);
    } catch (e) {
      warnings.push(`verification-keys ignored: ${(e as Error).message}`);
    }
  }

  return {
    policy,
    logHashAlg,
    digests: toLookup(policy.digests),
    keyrings: toLookup(policy.keyrings),
    imaBuf: toLookup(policy['ima-buf']),
    exclude,
    ignoredKeyrings: new Set(Array.isArray(ima.ignored_keyrings) ? ima.ignored_keyrings : []),
    verificationKeys,
    warnings,
  };
}

let emptyCompiled: CompiledRuntimePolicy | undefined;

/** The compiled EMPTY_RUNTIME_POLICY, shared. */
export function emptyCompiledPolicy(): CompiledRuntimePolicy {
  emptyCompiled ??= compileRuntimePolicy(emptyRuntimePolicy());
  return emptyCompiled;
}
