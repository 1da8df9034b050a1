import { createPublicKey, X509Certificate } from 'node:crypto';
import { expectStatus, type HttpClient } from '../client/http.js';
import { retryDelaySeconds, realSleep } from '../client/retry.js';
import { CertStore, parseEkCertificate, type EkCertCheck } from '../crypto/ek-cert.js';
import { generateRsaKey, privateKeyPem } from '../crypto/keys.js';
import { encryptForAgent, encryptPayload, generateBootstrapKeys, keyHmacHex, type BootstrapKeys } from '../crypto/payload.js';
import { selfSignedServerCert } from '../crypto/self-signed.js';
import { KeylimeError, invalidInput } from '../errors.js';
import { parseRuntimePolicy } from '../ima/index.js';
import { buildTpmPolicy, randomPassword, safeEqualHex, verifyQuote } from '../quote/index.js';
import { negotiateVersion } from '../servers/http/versions.js';
import type { Endpoint, TenantContext } from './context.js';
import { waitForState, type AgentStatusSummary } from './status.js';
import { buildStoredZip, type ZipEntry } from './zip.js';

export type PayloadInput = { kind: 'file'; data: Buffer } | { kind: 'zip'; entries: ZipEntry[] };

export interface AddAgentOptions {
  agentId: string;
  /** Where the agent listens; else the contact address it registered. */
  agent?: Endpoint;
  /** tpm_policy JSON text (PCR -> values), without `mask`. */
  tpmPolicy?: string;
  /** A runtime policy document (JSON text), and/or the name to store it under or to use. */
  runtimePolicy?: string;
  runtimePolicyName?: string;
  /** PEM public key a DSSE-signed runtime policy must verify under, at the verifier. */
  runtimePolicyKey?: string;
  /** A measured-boot reference state (JSON text), and/or its name. */
  mbPolicy?: string;
  mbPolicyName?: string;
  payload?: PayloadInput;
  certStore: CertStore;
  /** Refuse an agent whose EK certificate is missing or does not chain to the store (Keylime's default). */
  requireEkCert: boolean;
  verify?: boolean;
  wait?: boolean;
  timeoutSeconds?: number;
  acceptHashAlgs?: string[];
  acceptEncAlgs?: string[];
  acceptSignAlgs?: string[];
  /** Progress callback (the CLI turns it into a spinner). */
  onStep?: (step: string) => void;
}

export interface AddAgentResult {
  agent_id: string;
  agent_api_version: string;
  ek_certificate: EkCertCheck;
  payload_delivered: boolean;
  key_verified: boolean;
  status?: AgentStatusSummary;
}

const DEFAULT_HASH_ALGS = ['sha512', 'sha384', 'sha256'];
const DEFAULT_ENC_ALGS = ['ecc', 'rsa'];
const DEFAULT_SIGN_ALGS = ['ecschnorr', 'rsassa', 'ecdsa'];
const AGENT_API_VERSIONS = ['2.0', '2.1', '2.2', '2.3', '2.4', '2.5', '2.6'];

interface RegistrarRecord {
  aik_tpm: string;
  ek_tpm: string;
  ekcert: string | null;
  mtls_cert: string | null;
  ip: string | null;
  port: number | null;
  regcount: number;
}

/**
 * The tenant's `add` (keylime-protocol.md §8.1): registrar lookup, EK certificate check,
 * identity quote bound to the agent's key, U and the payload to the agent, V and the
 * policies to the verifier, then optionally the key check and waiting for attestation.
 */
export async function addAgent(ctx: TenantContext, o: AddAgentOptions): Promise<AddAgentResult> {
  const step = o.onStep ?? (() => {});
  if (!/^[\w.-]+$/.test(o.agentId)) throw invalidInput(`invalid agent id '${o.agentId}'`);
  // Everything the user gave is checked before anything is sent anywhere.
  const tpmPolicy = buildTpmPolicy(o.tpmPolicy, {
    runtimePolicy: o.runtimePolicy !== undefined || o.runtimePolicyName !== undefined,
    measuredBoot: o.mbPolicy !== undefined || o.mbPolicyName !== undefined,
  });
  if (o.runtimePolicy !== undefined) parseRuntimePolicy(o.runtimePolicy);
  if (o.mbPolicy !== undefined) {
    try {
      JSON.parse(o.mbPolicy);
    } catch {
      throw invalidInput('the measured boot policy is not valid JSON');
    }
  }

  step('Looking the agent up at the registrar');
  const reg = await registrarRecord(ctx, o.agentId);

  step('Checking the EK certificate');
  const ekCheck = checkEk(reg, o.certStore);
  if (ekCheck.status !== 'verified') {
    if (o.requireEkCert) {
      throw new KeylimeError('verification', `refusing agent '${o.agentId}': ${ekCheck.reason ?? 'EK certificate not verified'} (pass --no-require-ek-cert to accept it anyway)`);
    }
    ctx.log.warn(`DANGER: EK certificate of ${o.agentId} not verified (${ekCheck.reason}); accepting because --no-require-ek-cert was given`);
  }

  const ip = o.agent?.host ?? reg.ip;
  const port = o.agent?.port ?? reg.port;
  if (!ip || !port) throw invalidInput(`the registrar has no contact address for '${o.agentId}'; pass --agent HOST:PORT`);
  const agent = ctx.agentClient(ip, port, reg.mtls_cert);
  try {
    step('Negotiating the agent API version');
    const agentVersion = await negotiateAgentVersion(agent);

    step('Checking the identity quote');
    const nonce = randomPassword(20);
    const quoteReply = expectStatus(
      await agent.get<Record<string, unknown>>(`/v${agentVersion}/quotes/identity`, { query: { nonce }, retry: true, retryStatuses: [503, 504] }),
      200,
      `identity quote from agent '${o.agentId}'`,
    ).results;
    const pubkey = checkIdentityQuote(o, reg, nonce, quoteReply);

    let keys: BootstrapKeys | undefined;
    let revocationKey = '';
    if (o.payload) {
      step('Sending U and the encrypted payload to the agent');
      keys = generateBootstrapKeys();
      const prepared = await preparePayload(o.payload);
      revocationKey = prepared.revocationKey;
      const body = {
        auth_tag: keyHmacHex(keys.k, o.agentId),
        encrypted_key: encryptForAgent(createPublicKey(pubkey), keys.u),
        payload: encryptPayload(keys.k, prepared.plaintext),
      };
      expectStatus(await agent.post(`/v${agentVersion}/keys/ukey`, body, { retry: true }), 200, `U to agent '${o.agentId}'`);
    }

    step('Adding the agent to the verifier');
    await postToVerifier(ctx, o, { reg, ip, port, agentVersion, tpmPolicyJson: tpmPolicy.json, v: keys?.v ?? null, revocationKey });

    let keyVerified = false;
    if (o.verify && keys) {
      step('Waiting for the agent to derive the key');
      await verifyKey(ctx, agent, agentVersion, o.agentId, keys.k);
      keyVerified = true;
    }
    let status: AgentStatusSummary | undefined;
    if (o.wait) {
      step('Waiting for the first successful attestation');
      status = await waitForState(ctx, o.agentId, o.timeoutSeconds ?? 60);
    }
    return { agent_id: o.agentId, agent_api_version: agentVersion, ek_certificate: ekCheck, payload_delivered: Boolean(keys), key_verified: keyVerified, status };
  } finally {
    await agent.close();
  }
}

async function registrarRecord(ctx: TenantContext, agentId: string): Promise<RegistrarRecord> {
  const r = await ctx.registrar.get<RegistrarRecord>(await ctx.path(ctx.registrar, `/agents/${agentId}`), { retry: true });
  if (r.status === 404) {
    throw new KeylimeError('not_found', `${ctx.describe('registrar')} does not know agent ${agentId} (or it is not activated yet); is the agent running and registered?`);
  }
  return expectStatus(r, 200, `registrar lookup of '${agentId}'`).results;
}

function checkEk(reg: RegistrarRecord, store: CertStore): EkCertCheck {
  if (!reg.ekcert) return { status: 'absent', reason: 'the agent registered no EK certificate' };
  let cert: X509Certificate;
  try {
    cert = parseEkCertificate(reg.ekcert).cert;
  } catch (e) {
    return { status: 'unverified', reason: (e as Error).message };
  }
  return store.verify(cert);
}

async function negotiateAgentVersion(agent: HttpClient): Promise<string> {
  const r = await agent.get<{ supported_version?: string; supported_versions?: string[] }>('/version', { retry: true });
  if (r.status !== 200 || !r.body) return '2.1';
  const remote = r.body.results.supported_versions ?? r.body.results.supported_version;
  const v = remote ? negotiateVersion(remote, AGENT_API_VERSIONS) : undefined;
  if (!v) throw new KeylimeError('invalid_input', `the agent supports API ${JSON.stringify(remote)}, none of which keylime-ts speaks`);
  return v;
}

/** §8.1 step 5: algorithms acceptable, quote signed by the registered AK over our nonce, PCR 16 bound to the key. */
function checkIdentityQuote(o: AddAgentOptions, reg: RegistrarRecord, nonce: string, reply: Record<string, unknown>): string {
  const { quote, hash_alg: hashAlg, enc_alg: encAlg, sign_alg: signAlg, pubkey } = reply;
  if (typeof quote !== 'string' || typeof hashAlg !== 'string' || typeof pubkey !== 'string') {
    throw new KeylimeError('verification', `agent '${o.agentId}' answered an identity quote without quote, hash_alg or pubkey`);
  }
  const accept = (what: string, value: unknown, allowed: string[]) => {
    const norm = String(value).replace(/^rsa\d+$/, 'rsa').replace(/^ecc\d+$/, 'ecc');
    if (!allowed.includes(norm)) throw new KeylimeError('verification', `agent '${o.agentId}' uses ${what} ${String(value)}, not in the accepted list ${allowed.join(',')}`);
  };
  accept('hash algorithm', hashAlg, o.acceptHashAlgs ?? DEFAULT_HASH_ALGS);
  accept('encryption algorithm', encAlg, o.acceptEncAlgs ?? DEFAULT_ENC_ALGS);
  accept('signing algorithm', signAlg, o.acceptSignAlgs ?? DEFAULT_SIGN_ALGS);
  const verdict = verifyQuote({ quote, ak: reg.aik_tpm, nonce, hashAlg, dataPubkeyPem: pubkey });
  if (!verdict.valid) {
    const first = verdict.failures[0];
    const warning = reg.regcount > 1 ? ` (the agent re-registered ${reg.regcount - 1} time(s): its TPM identity may have changed)` : '';
    throw new KeylimeError('verification', `identity quote of agent '${o.agentId}' is invalid: ${first?.eventId ?? 'unknown'} ${JSON.stringify(first?.context ?? {})}${warning}`, {
      details: { event_id: first?.eventId, context: first?.context },
    });
  }
  return pubkey;
}

async function preparePayload(payload: PayloadInput): Promise<{ plaintext: Buffer; revocationKey: string }> {
  if (payload.kind === 'file') return { plaintext: payload.data, revocationKey: '' };
  // A package gets a RevocationNotifier certificate; the verifier signs revocations with its key.
  const key = await generateRsaKey(2048);
  const keyPem = privateKeyPem(key);
  const cert = await selfSignedServerCert({ commonName: 'RevocationNotifier', keyPem });
  const entries = [...payload.entries.filter((e) => e.name !== 'RevocationNotifier-cert.crt'), { name: 'RevocationNotifier-cert.crt', data: Buffer.from(cert.certPem) }];
  return { plaintext: buildStoredZip(entries), revocationKey: keyPem };
}

interface VerifierPostInput {
  reg: RegistrarRecord;
  ip: string;
  port: number;
  agentVersion: string;
  tpmPolicyJson: string;
  v: Buffer | null;
  revocationKey: string;
}

/** The union of body keys that Keylime verifiers from 6.x to today require (§12.4 item 4). */
export function verifierAddBody(ctx: TenantContext, o: AddAgentOptions, i: VerifierPostInput): Record<string, unknown> {
  const mbPolicy = o.mbPolicy ?? null;
  return {
    v: i.v ? i.v.toString('base64') : null,
    cloudagent_ip: i.ip,
    cloudagent_port: i.port,
    verifier_ip: ctx.config.verifier.host,
    verifier_port: ctx.config.verifier.port,
    tpm_policy: i.tpmPolicyJson,
    runtime_policy: o.runtimePolicy !== undefined ? Buffer.from(o.runtimePolicy, 'utf8').toString('base64') : '',
    runtime_policy_name: o.runtimePolicyName ?? '',
    runtime_policy_key: o.runtimePolicyKey ? Buffer.from(o.runtimePolicyKey, 'utf8').toString('base64') : '',
    mb_policy: mbPolicy,
    mb_policy_name: o.mbPolicyName ?? '',
    mb_refstate: mbPolicy ?? 'null',
    ima_sign_verification_keys: '',
    metadata: '{}',
    revocation_key: i.revocationKey,
    accept_tpm_hash_algs: o.acceptHashAlgs ?? DEFAULT_HASH_ALGS,
    accept_tpm_encryption_algs: o.acceptEncAlgs ?? DEFAULT_ENC_ALGS,
    accept_tpm_signing_algs: o.acceptSignAlgs ?? DEFAULT_SIGN_ALGS,
    ak_tpm: i.reg.aik_tpm,
    mtls_cert: i.reg.mtls_cert,
    supported_version: i.agentVersion,
  };
}

async function postToVerifier(ctx: TenantContext, o: AddAgentOptions, i: VerifierPostInput): Promise<void> {
  const path = await ctx.path(ctx.verifier, `/agents/${o.agentId}`);
  const r = await ctx.verifier.post(path, verifierAddBody(ctx, o, i), { retry: true });
  if (r.status === 409) {
    throw new KeylimeError('conflict', `the verifier already has agent '${o.agentId}' (${r.body?.status ?? 'conflict'}); run delete-agent or update-agent first`);
  }
  expectStatus(r, 200, `adding '${o.agentId}' to the verifier`);
}

/**
 * §8.1 step 7: the agent proves it derived K by answering HMAC(K, challenge). V reaches the
 * agent only after the verifier's first good quote, so the answer is "not yet" (or an older
 * K on re-enrollment) for a moment. Keylime waits retry_interval^n between tries; we poll
 * every 100 ms for as long as that schedule would have waited in total, so a fast verifier
 * is not made to look slow.
 */
async function verifyKey(ctx: TenantContext, agent: HttpClient, version: string, agentId: string, k: Buffer): Promise<void> {
  const challenge = randomPassword(20);
  const expected = keyHmacHex(k, challenge);
  const sleep = ctx.config.sleep ?? realSleep;
  let patienceMs = 0;
  for (let i = 1; i <= ctx.retry.maxRetries; i++) patienceMs += retryDelaySeconds(ctx.retry, i) * 1000;
  const deadline = Date.now() + Math.max(patienceMs, 1000);
  for (;;) {
    const r = await agent.get<{ hmac?: string }>(`/v${version}/keys/verify`, { query: { challenge }, retry: true });
    const hmac = r.body?.results.hmac;
    if (r.status === 200 && typeof hmac === 'string' && safeEqualHex(hmac, expected)) return;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  await ctx.verifier.put(await ctx.path(ctx.verifier, `/agents/${agentId}/stop`), '');
  throw new KeylimeError('verification', `agent '${agentId}' did not derive the bootstrap key; attestation stopped at the verifier`);
}
