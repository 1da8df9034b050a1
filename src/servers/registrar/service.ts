import { X509Certificate } from 'node:crypto';
import { CertStore, parseEkCertificate, spkiDer, type EkCertCheck } from '../../crypto/ek-cert.js';
import { KeylimeError, invalidInput, notFound } from '../../errors.js';
import type { Logger } from '../../log.js';
import { activationTagMatches, akFromTpm2b, challengeFor, ekFromCertificate, ekFromTpm2b, EXPECTED_AK_ATTRIBUTES } from './tpm-identity.js';
import type { RegistrarAgent } from './record.js';
import type { RegistrarStore } from './store.js';
import { checkAgentId, decodeBase64Field, optionalIp, optionalMtlsCert, optionalPort } from './validate.js';

export interface RegistrarPolicy {
  certStore: CertStore;
  /** Refuse agents whose EK certificate is missing or does not chain to the store (403). */
  requireEkCert: boolean;
}

export interface RegistrarDeps {
  store: RegistrarStore;
  policy: RegistrarPolicy;
  log: Logger;
}

/** Serialises the changes to one agent id: concurrent registrations of one agent never interleave. */
const locks = new Map<string, Promise<unknown>>();
async function withAgentLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(id) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const settled = run.catch(() => undefined);
  locks.set(id, settled);
  try {
    return await run;
  } finally {
    if (locks.get(id) === settled) locks.delete(id);
  }
}

const AK_ATTRIBUTE_NAMES = 'fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign';

function hex32(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/**
 * POST /agents/{id}: validate the TPM identity, store it inactive with a fresh challenge,
 * and answer the MakeCredential blob the agent must activate (§2.2, §2.3, §2.5).
 */
export async function registerAgent(deps: RegistrarDeps, rawId: string, body: unknown): Promise<{ blob: string }> {
  const id = checkAgentId(rawId);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidInput('Request body must be a JSON object');
  const b = body as Record<string, unknown>;

  const akBytes = decodeBase64Field(b.aik_tpm, 'aik_tpm');
  const ak = akFromTpm2b(akBytes, 'aik_tpm');
  if (ak.objectAttributes !== EXPECTED_AK_ATTRIBUTES) {
    throw invalidInput(
      `Invalid AK attributes ${hex32(ak.objectAttributes)} in field 'aik_tpm': a restricted signing key with exactly ${hex32(EXPECTED_AK_ATTRIBUTES)} (${AK_ATTRIBUTE_NAMES}) is required`,
    );
  }

  // "emulator" is what older Python agents sent for a TPM without an EK certificate.
  const ekcertText = b.ekcert === undefined || b.ekcert === null || b.ekcert === 'emulator' || b.ekcert === '' ? null : b.ekcert;
  if (ekcertText !== null && typeof ekcertText !== 'string') throw invalidInput("Field 'ekcert' must be a string or null");
  const ekCert = ekcertText === null ? undefined : parseEkCertificate(ekcertText);

  let ekBytes: Buffer;
  if (b.ek_tpm !== undefined && b.ek_tpm !== null) {
    ekBytes = decodeBase64Field(b.ek_tpm, 'ek_tpm');
    const ek = ekFromTpm2b(ekBytes, 'ek_tpm');
    if (ekCert && !spkiDer(ek.key).equals(spkiDer(ekCert.cert.publicKey))) {
      throw invalidInput("The public key in 'ekcert' does not match 'ek_tpm'");
    }
  } else if (ekCert) {
    ekBytes = ekFromCertificate(ekCert.cert);
  } else {
    throw invalidInput("Field 'ek_tpm' is required (or an 'ekcert' to derive it from)");
  }

  const mtlsCert = optionalMtlsCert(b.mtls_cert);
  const ip = optionalIp(b.ip);
  const port = optionalPort(b.port);
  const ekCheck = checkEkCertificate(deps.policy, ekCert?.cert);
  if (deps.policy.requireEkCert && ekCheck.status !== 'verified') {
    throw new KeylimeError('forbidden', `Agent '${id}' cannot be registered: ${ekCheck.status === 'absent' ? 'no EK certificate was sent' : `its EK certificate is not trusted (${ekCheck.reason})`}`);
  }

  const ekTpm = ekBytes.toString('base64');
  const aikTpm = akBytes.toString('base64');
  const ekcertB64 = ekCert ? ekCert.der.toString('base64') : null;

  return withAgentLock(id, async () => {
    const existing = deps.store.get(id);
    if (existing && (existing.ek_tpm !== ekTpm || existing.aik_tpm !== aikTpm || existing.ekcert !== ekcertB64)) {
      throw new KeylimeError('forbidden', 'Agent re-registration with different TPM identity is forbidden for security reasons');
    }
    const { secret, blob } = challengeFor(ekBytes, ak.name);
    const record: RegistrarAgent = {
      agent_id: id,
      ek_tpm: ekTpm,
      ekcert: ekcertB64,
      aik_tpm: aikTpm,
      mtls_cert: mtlsCert,
      ip,
      port,
      regcount: (existing?.regcount ?? 0) + 1,
      active: false,
      key: secret,
      ek_cert_status: ekCheck.status,
      ek_cert_reason: ekCheck.reason ?? null,
    };
    await deps.store.put(record);
    deps.log.info('agent registered, challenge sent', { agent: id, regcount: record.regcount, ek_cert: ekCheck.status });
    return { blob: blob.toString('base64') };
  });
}

function checkEkCertificate(policy: RegistrarPolicy, cert: X509Certificate | undefined): EkCertCheck {
  if (!cert) return { status: 'absent', reason: 'no EK certificate' };
  return policy.certStore.verify(cert);
}

/**
 * PUT /agents/{id}[/activate]: the agent proves it could activate the credential, i.e. its
 * AK lives in the same TPM as the EK. A wrong tag deletes the record, as Keylime does.
 */
export async function activateAgent(deps: RegistrarDeps, rawId: string, body: unknown): Promise<void> {
  const id = checkAgentId(rawId);
  const tag = body && typeof body === 'object' ? (body as Record<string, unknown>).auth_tag : undefined;
  if (typeof tag !== 'string' || tag.length === 0) throw invalidInput("Field 'auth_tag' is required (96 hex characters)");
  return withAgentLock(id, async () => {
    const agent = deps.store.get(id);
    if (!agent) throw notFound(`Agent with ID '${id}' not found`);
    if (!activationTagMatches(agent.key, id, tag)) {
      await deps.store.delete(id);
      deps.log.warn('activation failed, agent deleted', { agent: id });
      throw invalidInput(
        `Auth tag '${tag.slice(0, 96)}' for agent '${id}' does not match expected value. The agent has been deleted from the database and will need to be restarted to reattempt registration`,
      );
    }
    await deps.store.put({ ...agent, active: true });
    deps.log.info('agent activated', { agent: id });
  });
}

export function getActiveAgent(deps: RegistrarDeps, rawId: string): RegistrarAgent {
  const id = checkAgentId(rawId);
  const agent = deps.store.get(id);
  if (!agent) throw notFound(`Agent with ID '${id}' not found`);
  if (!agent.active) throw notFound(`Agent with ID '${id}' has not been activated`);
  return agent;
}

export async function deleteAgent(deps: RegistrarDeps, rawId: string): Promise<void> {
  const id = checkAgentId(rawId);
  await withAgentLock(id, async () => {
    if (!(await deps.store.delete(id))) throw notFound(`Agent with ID '${id}' not found`);
    deps.log.info('agent deleted', { agent: id });
  });
}
