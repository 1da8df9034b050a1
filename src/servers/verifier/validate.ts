import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { KeylimeError, invalidInput, isKeylimeError } from '../../errors.js';
import { convertLegacyAllowlist, emptyRuntimePolicy, isDsseEnvelope, parseRuntimePolicy, verifyDsseEnvelope, type RuntimePolicy } from '../../ima/index.js';
import { decodeBase64Strict } from '../../quote/base64.js';
import { pyJsonDumps } from '../../quote/pyjson.js';
import { parseTpmPolicy, type TpmPolicy } from '../../quote/tpm-policy.js';
import { resolveAk } from '../../quote/verify.js';
import { SERVER_API_VERSIONS, SERVER_CURRENT_VERSION } from '../http/versions.js';
import type { MbPolicyRecord, RuntimePolicyRecord, VerifierAgent } from './record.js';
import { checkRevocationKey } from './revocation.js';
import { State } from './states.js';

/** Agent ids as Keylime accepts them. */
const AGENT_ID = /^[\w.-]{1,80}$/;
/** Policy names: the same characters (they become per-agent names too). */
const POLICY_NAME = /^[\w.-]{1,255}$/;

export function checkAgentId(id: string): string {
  if (!AGENT_ID.test(id)) throw invalidInput(`agent_id not valid: '${id.slice(0, 100)}' (use letters, digits, '_', '.' and '-', at most 80)`);
  return id;
}

export function checkPolicyName(name: string, what: string): string {
  if (!POLICY_NAME.test(name)) throw invalidInput(`${what} name '${name.slice(0, 100)}' is not valid (use letters, digits, '_', '.' and '-')`);
  return name;
}

type Body = Record<string, unknown>;

export function requireBody(body: unknown): Body {
  if (body === undefined || body === null || body === '') throw invalidInput('Expected non zero content length');
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidInput('Request body must be a JSON object');
  return body as Body;
}

function optionalString(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidInput(`Field '${key}' must be a string`);
  return v;
}

/** Fields Keylime takes as JSON text; an object is accepted and written as Python would. */
function jsonTextField(b: Body, key: string, fallback: string): string {
  const v = b[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return pyJsonDumps(v);
  throw invalidInput(`Field '${key}' must be a JSON string`);
}

function port(value: unknown, key: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw invalidInput(`Field '${key}' must be a port number from 1 to 65535`);
  return n;
}

function host(value: unknown, key: string): string {
  if (typeof value !== 'string' || value === '') throw invalidInput(`Field '${key}' is required: the verifier polls the agent at this address`);
  if (isIP(value) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(value)) throw invalidInput(`Field '${key}' is not an IP address or host name: ${value.slice(0, 80)}`);
  return value;
}

/** Tenant defaults (tenant.conf) for lists an old tenant may leave out. */
const DEFAULT_ACCEPT = {
  accept_tpm_hash_algs: ['sha512', 'sha384', 'sha256'],
  accept_tpm_encryption_algs: ['ecc', 'rsa'],
  accept_tpm_signing_algs: ['ecschnorr', 'rsassa'],
} as const;

function stringList(b: Body, key: keyof typeof DEFAULT_ACCEPT): string[] {
  let v = b[key];
  if (v === undefined || v === null) return [...DEFAULT_ACCEPT[key]];
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw invalidInput(`Field '${key}' must be a list of strings`);
    }
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidInput(`Field '${key}' must be a list of strings`);
  return v as string[];
}

function bytesField(value: string, key: string): Buffer {
  try {
    return decodeBase64Strict(value.replace(/\s/g, ''), `Field '${key}'`);
  } catch (e) {
    throw invalidInput((e as Error).message);
  }
}

/**
 * The tpm_policy as the verifier will use it (§6), refusing what would make every
 * attestation fail: no mask, PCRs beyond 23, PCR 16, non-hex values, or a listed PCR the
 * mask does not select.
 */
export function checkTpmPolicyText(text: string): TpmPolicy {
  let policy: TpmPolicy;
  try {
    policy = parseTpmPolicy(text);
  } catch (e) {
    if (isKeylimeError(e)) throw invalidInput(`Field 'tpm_policy' is not valid: ${e.message}`);
    throw e;
  }
  if (policy.mask === undefined) throw invalidInput("Field 'tpm_policy' has no \"mask\" (the tenant writes the hex OR of 1<<pcr over the listed PCRs, e.g. \"0x408000\")");
  if (policy.maskPcrs.some((p) => p > 23)) throw invalidInput(`tpm_policy mask ${policy.mask} selects PCRs above 23`);
  for (const [pcr, values] of policy.pcrs) {
    if (pcr > 23) throw invalidInput(`tpm_policy lists PCR ${pcr}; PCRs go from 0 to 23`);
    if (pcr === 16) throw invalidInput('tpm_policy must not list PCR 16: it binds the agent key and is checked separately');
    if (values.some((v) => !/^[0-9a-fA-F]+$/.test(v))) throw invalidInput(`tpm_policy PCR ${pcr} values must be hex strings`);
    if (!policy.maskPcrs.includes(pcr)) throw invalidInput(`tpm_policy lists PCR ${pcr} but its mask ${policy.mask} does not select it`);
  }
  return policy;
}

/** `runtime_policy_key` is base64 of a PEM public key (§2.7); a bare PEM is taken as it is. */
function policyKeyPem(field: string): string {
  if (field.trimStart().startsWith('-----BEGIN')) return field;
  try {
    return decodeBase64Strict(field.replace(/\s/g, ''), "Field 'runtime_policy_key'").toString('utf8');
  } catch (e) {
    if (isKeylimeError(e)) throw invalidInput(`${e.message} (base64 of the PEM public key that signed the runtime policy)`);
    throw e;
  }
}

/**
 * A DSSE-signed policy sent with its key must verify with that key. Keylime checks only
 * when require_allow_list_signatures is on (401); a policy whose signature fails under
 * the key its uploader names is refused here whatever that setting, since storing it
 * would attest agents against a policy nobody signed.
 */
function checkPolicySignature(text: string, keyField: string | null | undefined): void {
  if (!keyField) return;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return; // not JSON: parsing the policy reports it
  }
  if (!isDsseEnvelope(obj)) return;
  const pem = policyKeyPem(keyField);
  let valid: boolean;
  try {
    valid = verifyDsseEnvelope(obj, pem).valid;
  } catch (e) {
    if (isKeylimeError(e)) throw invalidInput(`Runtime policy signature cannot be checked: ${e.message}`);
    throw e;
  }
  if (!valid) throw new KeylimeError('unauthorized', 'Runtime policy failed DSSE signature verification with the given runtime_policy_key; the policy was not stored');
}

/** A runtime policy as received: validated, with the generator that tells a real one from the empty default. */
export function runtimePolicyRecord(name: string, text: string, extra: { tpm_policy?: string | null; runtime_policy_key?: string | null } = {}): RuntimePolicyRecord {
  checkPolicySignature(text, extra.runtime_policy_key);
  let policy: RuntimePolicy;
  try {
    policy = parseRuntimePolicy(text);
  } catch (e) {
    // Keylime 6.x sent allow-lists ({"hashes": ...} or flat "digest path" lines); convert them.
    try {
      policy = convertLegacyAllowlist(text);
      text = JSON.stringify(policy);
    } catch {
      throw e;
    }
  }
  return { name, runtime_policy: text, tpm_policy: extra.tpm_policy ?? null, runtime_policy_key: extra.runtime_policy_key || null, generator: policy.meta.generator };
}

export function emptyRuntimePolicyRecord(name: string): RuntimePolicyRecord {
  return { name, runtime_policy: pyJsonDumps(emptyRuntimePolicy()), tpm_policy: null, runtime_policy_key: null, generator: emptyRuntimePolicy().meta.generator };
}

/** What to do with the runtime / measured-boot policy of a new agent. */
export type PolicyChoice<R> = { kind: 'none' } | { kind: 'named'; name: string } | { kind: 'new'; record: R; perAgent: boolean };

export interface Enrollment {
  record: VerifierAgent;
  runtime: PolicyChoice<RuntimePolicyRecord>;
  mb: PolicyChoice<MbPolicyRecord>;
  tpmPolicy: TpmPolicy;
}

export interface EnrollmentDefaults {
  verifierId: string;
  verifierIp: string;
  verifierPort: number;
}

function runtimeChoice(id: string, b: Body): PolicyChoice<RuntimePolicyRecord> {
  const name = optionalString(b, 'runtime_policy_name') || optionalString(b, 'allowlist_name') || undefined;
  const key = optionalString(b, 'runtime_policy_key') ?? null;
  let text: string | undefined;
  const b64 = optionalString(b, 'runtime_policy');
  if (b64) text = bytesField(b64, 'runtime_policy').toString('utf8');
  // Keylime 6.4 sent the allow-list itself, as JSON text, in `allowlist`.
  else if (b.allowlist !== undefined && b.allowlist !== null && b.allowlist !== '') text = jsonTextField(b, 'allowlist', '');
  if (name !== undefined) checkPolicyName(name, 'runtime policy');
  if (text !== undefined && text.trim() !== '') {
    return { kind: 'new', record: runtimePolicyRecord(name ?? id, text, { runtime_policy_key: key }), perAgent: name === undefined };
  }
  if (name !== undefined) return { kind: 'named', name };
  return { kind: 'new', record: emptyRuntimePolicyRecord(id), perAgent: true };
}

function mbChoice(id: string, b: Body): PolicyChoice<MbPolicyRecord> {
  const name = optionalString(b, 'mb_policy_name') || undefined;
  // 7.12+: mb_policy; up to 7.11: mb_refstate ("null" when none).
  const raw = b.mb_policy !== undefined && b.mb_policy !== null ? b.mb_policy : b.mb_refstate;
  const text = raw === undefined || raw === null ? undefined : typeof raw === 'string' ? raw : pyJsonDumps(raw);
  const none = text === undefined || text.trim() === '' || text.trim() === 'null';
  if (name !== undefined) checkPolicyName(name, 'measured boot policy');
  if (!none) {
    try {
      JSON.parse(text);
    } catch (e) {
      throw invalidInput(`Field 'mb_policy' is not valid JSON: ${(e as Error).message}`);
    }
    return { kind: 'new', record: { name: name ?? id, mb_policy: text }, perAgent: name === undefined };
  }
  if (name !== undefined) return { kind: 'named', name };
  return { kind: 'none' };
}

/**
 * POST /agents/{id} body (§7.2) from any Keylime tenant, 6.x to today, into the record the
 * verifier stores. Throws 400s naming the field; touches nothing.
 */
export function parseEnrollment(rawId: string, body: unknown, defaults: EnrollmentDefaults): Enrollment {
  const id = checkAgentId(rawId);
  const b = requireBody(body);

  const mtls = b.mtls_cert;
  if (mtls === undefined || mtls === null || mtls === '' || mtls === 'disabled') throw invalidInput('mTLS certificate for agent is required!');
  if (typeof mtls !== 'string') throw invalidInput("Field 'mtls_cert' must be a PEM certificate");
  try {
    new X509Certificate(mtls);
  } catch {
    throw invalidInput("Field 'mtls_cert' is not a PEM certificate");
  }

  const akText = optionalString(b, 'ak_tpm');
  if (!akText) throw invalidInput("Field 'ak_tpm' is required (the AK's TPM2B_PUBLIC, base64, as the registrar's aik_tpm)");
  try {
    resolveAk(akText);
  } catch (e) {
    if (isKeylimeError(e)) throw invalidInput(`Field 'ak_tpm' is not a usable AK: ${e.message}`);
    throw e;
  }

  const tpmPolicyText = jsonTextField(b, 'tpm_policy', '');
  if (tpmPolicyText === '') throw invalidInput("Field 'tpm_policy' is required, e.g. \"{\\\"mask\\\": \\\"0x0\\\"}\"");
  const tpmPolicy = checkTpmPolicyText(tpmPolicyText);

  let v: string | null = null;
  const vText = optionalString(b, 'v');
  if (vText) {
    const bytes = bytesField(vText, 'v');
    if (bytes.length !== 16 && bytes.length !== 32) throw invalidInput(`Field 'v' must decode to 16 or 32 bytes, not ${bytes.length}`);
    v = vText;
  }

  const revocationKey = optionalString(b, 'revocation_key') ?? '';
  checkRevocationKey(revocationKey);

  const requested = optionalString(b, 'supported_version');
  const supportedVersion = requested && (SERVER_API_VERSIONS as readonly string[]).includes(requested) ? requested : SERVER_CURRENT_VERSION;

  const runtime = runtimeChoice(id, b);
  const mb = mbChoice(id, b);

  const record: VerifierAgent = {
    agent_id: id,
    v,
    ip: host(b.cloudagent_ip, 'cloudagent_ip'),
    port: port(b.cloudagent_port, 'cloudagent_port'),
    verifier_id: defaults.verifierId,
    verifier_ip: b.verifier_ip === undefined || b.verifier_ip === null || b.verifier_ip === '' ? defaults.verifierIp : host(b.verifier_ip, 'verifier_ip'),
    verifier_port: b.verifier_port === undefined || b.verifier_port === null || b.verifier_port === '' ? defaults.verifierPort : port(b.verifier_port, 'verifier_port'),
    operational_state: State.START,
    tpm_policy: tpmPolicyText,
    meta_data: jsonTextField(b, 'metadata', '{}'),
    runtime_policy_name: runtime.kind === 'none' ? null : runtime.kind === 'named' ? runtime.name : runtime.record.name,
    mb_policy_name: mb.kind === 'none' ? null : mb.kind === 'named' ? mb.name : mb.record.name,
    ima_sign_verification_keys: optionalString(b, 'ima_sign_verification_keys') ?? '',
    revocation_key: revocationKey,
    accept_tpm_hash_algs: stringList(b, 'accept_tpm_hash_algs'),
    accept_tpm_encryption_algs: stringList(b, 'accept_tpm_encryption_algs'),
    accept_tpm_signing_algs: stringList(b, 'accept_tpm_signing_algs'),
    ak_tpm: akText,
    mtls_cert: mtls,
    supported_version: supportedVersion,
    public_key: '',
    hash_alg: '',
    enc_alg: '',
    sign_alg: '',
    severity_level: null,
    last_event_id: null,
    attestation_count: 0,
    last_received_quote: 0,
    last_successful_attestation: 0,
    tpm_clockinfo: null,
    boottime: 0,
    evidence_state: {},
  };
  return { record, runtime, mb, tpmPolicy };
}

/** Errors whose text Keylime's tenant shows: keep them as KeylimeErrors with the status. */
export function conflict(message: string): KeylimeError {
  return new KeylimeError('conflict', message);
}
