/**
 * Registration and activation at the registrar (protocol spec §2.2-2.4, §3.1 step 6,
 * §12.1 items 1-2): negotiate the API version through GET /version, POST the TPM identity,
 * activate the returned MakeCredential blob in the TPM and PUT the auth_tag. Failures are
 * retried with exponential backoff, except a refusal (403, or 4xx on the registration
 * itself), which no retry can change.
 */
import { HttpClient, type HttpResult } from '../../client/http.js';
import { realSleep, type Sleep } from '../../client/retry.js';
import { KeylimeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { authTag, decodeBase64Strict } from '../../quote/index.js';
import { AGENT_API_VERSIONS, compareVersions } from '../http/versions.js';

export interface RegistrationBackoff {
  /** First delay (Rust agent: 10 s); doubled for each retry. */
  initialDelayMs: number;
  maxRetries: number;
  maxDelayMs: number;
}

export const DEFAULT_REGISTRATION_BACKOFF: RegistrationBackoff = { initialDelayMs: 10_000, maxRetries: 5, maxDelayMs: 300_000 };

export interface RegistrationIdentity {
  agentId: string;
  akPublic: Buffer;
  ekPublic: Buffer;
  ekCert: Buffer | null;
  mtlsCertPem: string;
  contactIp: string;
  contactPort: number;
}

export interface RegistrationOptions {
  /** http://host:port of the registrar's agent-facing (plain HTTP) port. */
  registrarUrl: string;
  identity: RegistrationIdentity;
  /** TPM2_ActivateCredential on the registrar's blob; returns the secret. */
  activate: (blob: Buffer) => Promise<Buffer>;
  backoff?: RegistrationBackoff;
  sleep?: Sleep;
  log: Logger;
  /** API versions this agent may speak to the registrar, oldest first. */
  versions?: readonly string[];
  /** Aborting stops the retries (SIGTERM while waiting for the registrar). */
  signal?: AbortSignal;
}

export interface Registration {
  /** The API version used with the registrar. */
  version: string;
  attempts: number;
}

/** A refusal by the registrar: retrying the same request cannot help. */
class Refused extends KeylimeError {}

/** Body of POST /agents/{id}, exactly the fields of §12.1 item 1; ekcert is always present. */
export function registrationBody(id: RegistrationIdentity): Record<string, unknown> {
  return {
    aik_tpm: id.akPublic.toString('base64'),
    ek_tpm: id.ekPublic.toString('base64'),
    ekcert: id.ekCert ? id.ekCert.toString('base64') : null,
    mtls_cert: id.mtlsCertPem,
    ip: id.contactIp,
    port: id.contactPort,
  };
}

function reason(result: HttpResult<unknown>): string {
  return result.body?.status || result.text.slice(0, 200) || `HTTP ${result.status}`;
}

/**
 * The registrar's version to use (Rust agent rule): its current_version when we speak it,
 * else our highest in its supported_versions. Undefined when /version did not answer 200,
 * in which case every version of ours is tried, newest first.
 */
async function negotiate(client: HttpClient, ours: readonly string[]): Promise<string[]> {
  const newestFirst = [...ours].sort(compareVersions).reverse();
  const result = await client.get<{ current_version?: unknown; supported_versions?: unknown }>('/version');
  if (result.status !== 200 || !result.body?.results) return newestFirst;
  const { current_version: current, supported_versions: supported } = result.body.results;
  if (typeof current === 'string' && ours.includes(current)) return [current];
  const theirs = Array.isArray(supported) ? supported.filter((v): v is string => typeof v === 'string') : [];
  const common = newestFirst.filter((v) => theirs.includes(v));
  if (common.length === 0) {
    throw new Refused('forbidden', `the registrar speaks API versions ${theirs.join(', ') || String(current)}, this agent only ${ours.join(', ')}`);
  }
  return [common[0]!];
}

function versionRejected(result: HttpResult<unknown>): boolean {
  // ≤7.11 answers 400 "API Version not supported", HEAD an empty 404.
  return (result.status === 400 && /API version not supported/i.test(reason(result))) || (result.status === 404 && !result.body);
}

async function attempt(client: HttpClient, opts: RegistrationOptions): Promise<string> {
  const { identity: id, log } = opts;
  const candidates = await negotiate(client, opts.versions ?? AGENT_API_VERSIONS);
  const path = `/agents/${encodeURIComponent(id.agentId)}`;
  for (const [i, version] of candidates.entries()) {
    const reg = await client.post<{ blob?: unknown }>(`/v${version}${path}`, registrationBody(id));
    if (reg.status !== 200) {
      if (versionRejected(reg) && i < candidates.length - 1) continue;
      if (reg.status === 403) throw new Refused('forbidden', `the registrar refused agent ${id.agentId}: ${reason(reg)} (HTTP 403)`);
      if (reg.status >= 400 && reg.status < 500) {
        throw new Refused('invalid_input', `the registrar rejected the registration of ${id.agentId}: ${reason(reg)} (HTTP ${reg.status})`);
      }
      throw new KeylimeError('unreachable', `registration failed: ${reason(reg)} (HTTP ${reg.status})`);
    }
    const blobText = reg.body?.results?.blob;
    if (typeof blobText !== 'string') throw new KeylimeError('unreachable', 'the registrar answered without a challenge blob');
    log.info('registered; activating the challenge in the TPM', { registrar_version: version });
    const secret = await opts.activate(decodeBase64Strict(blobText, 'registrar blob'));
    const tag = authTag(secret.toString('latin1'), id.agentId);
    const act = await client.put(`/v${version}${path}/activate`, { auth_tag: tag });
    if (act.status !== 200) throw new KeylimeError('unreachable', `activation failed: ${reason(act)} (HTTP ${act.status})`);
    return version;
  }
  throw new KeylimeError('unreachable', 'the registrar accepted none of our API versions');
}

function abortable(wait: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return wait;
  const stopped = () => new KeylimeError('internal', 'registration stopped', { details: { aborted: true } });
  if (signal.aborted) return Promise.reject(stopped());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    wait.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      reject,
    );
  });
}

/** Registers and activates, retrying as the Rust agent does; throws when it gives up or is refused. */
export async function registerAndActivate(opts: RegistrationOptions): Promise<Registration> {
  const backoff = opts.backoff ?? DEFAULT_REGISTRATION_BACKOFF;
  const sleep = opts.sleep ?? realSleep;
  const client = new HttpClient(opts.registrarUrl, {
    name: 'registrar',
    retry: { retryInterval: 0, maxRetries: 0, exponentialBackoff: false },
    connections: 1,
  });
  try {
    for (let n = 1; ; n++) {
      try {
        const version = await attempt(client, opts);
        opts.log.info('agent activated at the registrar', { agent_id: opts.identity.agentId, registrar_version: version, attempts: n });
        return { version, attempts: n };
      } catch (e) {
        if (e instanceof Refused || !(e instanceof KeylimeError) || n > backoff.maxRetries || opts.signal?.aborted) throw e;
        const delay = Math.min(backoff.initialDelayMs * 2 ** (n - 1), backoff.maxDelayMs);
        opts.log.warn('registration failed; retrying', { error: e.message, attempt: n, retry_in_ms: delay });
        await abortable(sleep(delay), opts.signal);
      }
    }
  } finally {
    await client.close();
  }
}
