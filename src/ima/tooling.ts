/**
 * Policy tooling behind `keylime-ts policy runtime create|test`: build a runtime
 * policy from a machine's IMA measurement list, and check a list against a policy.
 */
import { isLineError, parseImaLine } from './entry.js';
import type { HashAlg } from './hash-algs.js';
import { keyFromBytes } from './keys.js';
import { pythonTimestamp, type ConvertOptions } from './convert.js';
import { compileRuntimePolicy, emptyRuntimePolicy, RuntimePolicyGenerator, type CompiledRuntimePolicy, type DigestMap, type RuntimePolicy } from './policy.js';
import { replayImaLog, type ImaReplayResult } from './replay.js';
import type { ImaKeyring } from './keys.js';

const POLICY_DIGEST = /^[0-9a-f]{40,128}$/;

export interface CreatePolicyOptions extends ConvertOptions {
  /** Python regexes for `excludes`; excluded paths are also left out of `digests`. */
  excludes?: readonly string[];
  /** Algorithm of the list's template-hash column (policy `ima.log_hash_alg`). */
  logHashAlg?: HashAlg;
  /** Keyring names whose key entries are accepted unchecked. */
  ignoredKeyrings?: readonly string[];
  /** A `verification-keys` string (see buildVerificationKeys). */
  verificationKeys?: string;
  /** Start from this policy's maps (its digests are kept and extended). */
  base?: RuntimePolicy;
}

export interface SkippedLine {
  line: number;
  reason: string;
}

export interface CreatedPolicy {
  policy: RuntimePolicy;
  /** Lines that contributed nothing, and why. */
  skipped: SkippedLine[];
}

function addDigest(map: DigestMap, name: string, digest: string): void {
  const list = (map[name] ??= []);
  if (!list.includes(digest)) list.push(digest);
}

/**
 * Records the digest of every entry: file entries (ima, ima-ng, ima-sig) into
 * `digests`, key-carrying ima-buf entries into `keyrings`, other ima-buf entries into
 * `ima-buf`. Violation entries (zero template hash) and digests the schema cannot hold
 * (e.g. md5) are skipped and reported.
 */
export function createRuntimePolicy(list: string, options: CreatePolicyOptions = {}): CreatedPolicy {
  const policy: RuntimePolicy = options.base ? structuredClone(options.base) : emptyRuntimePolicy();
  policy.meta = {
    version: policy.meta.version ?? 1,
    generator: RuntimePolicyGenerator.LegacyAllowList,
    timestamp: pythonTimestamp((options.now ?? (() => new Date()))()),
  };
  if (options.logHashAlg) policy.ima.log_hash_alg = options.logHashAlg;
  if (options.ignoredKeyrings) policy.ima.ignored_keyrings = [...new Set([...policy.ima.ignored_keyrings, ...options.ignoredKeyrings])];
  if (options.verificationKeys !== undefined) policy['verification-keys'] = options.verificationKeys;
  if (options.excludes) policy.excludes = [...new Set([...policy.excludes, ...options.excludes])];
  const exclude = compileRuntimePolicy(policy).exclude;

  const skipped: SkippedLine[] = [];
  list.split('\n').forEach((line, i) => {
    if (line === '') return;
    const e = parseImaLine(line);
    if (isLineError(e)) {
      skipped.push({ line: i, reason: e.error });
      return;
    }
    if (/^0*$/.test(e.templateHash)) {
      skipped.push({ line: i, reason: 'violation entry (zero template hash)' });
      return;
    }
    if (exclude?.test(e.name)) return;
    if (!POLICY_DIGEST.test(e.digest)) {
      skipped.push({ line: i, reason: `a ${e.digestAlg} digest cannot be listed in a runtime policy` });
      return;
    }
    if (e.template !== 'ima-buf') addDigest(policy.digests, e.name, e.digest);
    else {
      const key = keyFromBytes(Buffer.from(e.buffer, 'hex'));
      addDigest(key && !('unsupported' in key) ? policy.keyrings : policy['ima-buf'], e.name, e.digest);
    }
  });
  return { policy, skipped };
}

export interface TestListOptions {
  /** Bank to replay in; only matters with quotedPcr10. Default sha256. */
  bank?: HashAlg;
  /** Also check that some prefix of the list reproduces this PCR 10 value. */
  quotedPcr10?: string | null;
  bootAggregates?: Record<string, readonly string[]> | null;
  tenantKeyring?: ImaKeyring | null;
  reportTomtou?: boolean;
}

/** Evaluates a whole list against a policy as a verifier would on its first poll. */
export function testImaList(list: string, policy: RuntimePolicy | CompiledRuntimePolicy, options: TestListOptions = {}): ImaReplayResult {
  const compiled = 'logHashAlg' in policy ? policy : compileRuntimePolicy(policy);
  return replayImaLog(list, {
    bank: options.bank ?? 'sha256',
    quotedPcr10: options.quotedPcr10 ?? null,
    policy: compiled,
    bootAggregates: options.bootAggregates ?? null,
    ...(options.tenantKeyring !== undefined ? { tenantKeyring: options.tenantKeyring } : {}),
    reportTomtou: options.reportTomtou ?? false,
  });
}
