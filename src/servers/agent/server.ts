/**
 * startAgent: the pull-mode Keylime agent. Brings up the data directory, keys and TPM
 * identity, serves the agent API over mutual TLS, then registers and activates at the
 * registrar (listening first, so a contact port of 0 can be resolved before registering).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseHostPort } from '../../config.js';
import type { Sleep } from '../../client/retry.js';
import { ensurePrivateDir, exists } from '../../crypto/files.js';
import { KeylimeError, isKeylimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { Tpm, type EkAlg, type HashAlg, type SignAlg } from '../../tpm/index.js';
import { SerialQueue } from '../../tpm/serial-queue.js';
import { createServer, listen, MiB } from '../http/server.js';
import { AGENT_API_VERSIONS } from '../http/versions.js';
import { AGENT_FILES, bringUpTpm, loadOrCreateNk, loadOrCreateServerCert } from './identity.js';
import { ImaLog } from './ima-log.js';
import { BootstrapKeys, type AcceptedKey } from './keys.js';
import { deliverPayload, payloadDir, REVOCATION_CERT_FILE, type PayloadOutcome } from './payload.js';
import { QuoteService } from './quotes.js';
import { handleRevocation, type RevocationNotification, type RevocationOutcome } from './revocation.js';
import { registerAndActivate, type RegistrationBackoff } from './registration.js';
import { agentRoutes, notFoundStatus, type AgentInfo } from './routes.js';

export const DEFAULT_IMA_LOG = '/sys/kernel/security/ima/ascii_runtime_measurements';
export const DEFAULT_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements';
export const DEFAULT_AGENT_PORT = 9002;
export const DEFAULT_REGISTRAR = '127.0.0.1:8890';

export interface AgentOptions {
  /** Agent id, or "hash_ek" for the hex SHA-256 of the EK public key PEM. */
  uuid: string;
  /** Data directory (created 0700): keys, certificate, agent_data.json, TPM files, payload. */
  dataDir: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 9002; 0 = any free port). */
  port?: number;
  /** Address registered for tenant and verifier (default: host, or 127.0.0.1 when host is a wildcard). */
  contactIp?: string;
  /** Port registered (default: the port listened on). */
  contactPort?: number;
  /** Registrar's agent-facing HTTP address, "HOST:PORT" (default 127.0.0.1:8890). */
  registrar?: string;
  /** TCTI for tpm2-tools (default $TPM2TOOLS_TCTI, else device:/dev/tpmrm0). */
  tcti?: string;
  /** CA that client certificates must chain to (default <dataDir>/cv_ca/cacert.crt). */
  trustedClientCa?: string;
  /** PCR bank and AK hash (default sha256). */
  hashAlg?: HashAlg;
  /** EK and AK key type (default rsa). */
  encAlg?: EkAlg;
  /** AK signing scheme (default rsassa for rsa, ecdsa for ecc). */
  signAlg?: SignAlg;
  /** IMA ASCII log (default the kernel's; null: never send one). A missing file is not an error. */
  imaLog?: string | null;
  /** UEFI event log (default the kernel's; null: never send one). A missing file is not an error. */
  eventLog?: string | null;
  /** Run autorun.sh from a payload (default false). */
  enablePayloadScript?: boolean;
  /** Executable run with the path of the message file on each valid revocation notification. */
  revocationAction?: string;
  /** AK persistent handle base; null keeps the AK transient (reloaded from its blobs after a TPM reset). */
  akHandle?: number | null;
  registrationBackoff?: RegistrationBackoff;
  sleep?: Sleep;
  /** Aborting stops registration retries; startAgent then rejects and leaves nothing listening. */
  signal?: AbortSignal;
  logger?: Logger;
}

export type BackgroundResult<T> = { ok: true; value: T } | { ok: false; error: KeylimeError };

export interface RunningAgent {
  agentId: string;
  port: number;
  contactIp: string;
  contactPort: number;
  /** API version used with the registrar. */
  registrarVersion: string;
  nkPublicPem: string;
  mtlsCertPem: string;
  akPublic: Buffer;
  ekPublic: Buffer;
  ekCert: Buffer | null;
  tpm: Tpm;
  /** The last payload run (undefined until one ran). */
  readonly lastPayload: BackgroundResult<PayloadOutcome> | undefined;
  readonly lastRevocation: BackgroundResult<RevocationOutcome> | undefined;
  /** Resolves when no payload or revocation work is pending. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

function defaultContactIp(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}

function readTrustedCa(path: string): string {
  if (!exists(path)) {
    throw new KeylimeError(
      'not_found',
      `trusted client CA ${path} not found: copy the verifier's cv_ca/cacert.crt there, or pass --trusted-client-ca FILE`,
    );
  }
  const pem = readFileSync(path, 'utf8');
  try {
    new X509Certificate(pem);
  } catch (e) {
    throw new KeylimeError('invalid_input', `trusted client CA ${path} is not a PEM certificate: ${(e as Error).message}`);
  }
  return pem;
}

function asKeylimeError(e: unknown): KeylimeError {
  return isKeylimeError(e) ? e : new KeylimeError('internal', (e as Error)?.message ?? String(e), { cause: e });
}

/** Background work that tests and shutdown can wait for. */
class Background {
  private readonly pending = new Set<Promise<unknown>>();

  track(work: Promise<unknown>): void {
    const p = work.catch(() => undefined).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const log = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const hashAlg = options.hashAlg ?? 'sha256';
  const encAlg = options.encAlg ?? 'rsa';
  const signAlg = options.signAlg ?? (encAlg === 'rsa' ? 'rsassa' : 'ecdsa');
  // Absolute: tpm2-tools run with the TPM directory as cwd and get paths under it.
  const dataDir = resolve(options.dataDir);
  const contactIp = options.contactIp ?? defaultContactIp(host);

  ensurePrivateDir(dataDir);
  const trustedCa = readTrustedCa(options.trustedClientCa ?? join(dataDir, 'cv_ca', 'cacert.crt'));
  const nk = await loadOrCreateNk(dataDir, log);
  const tpm = new Tpm({ tcti: options.tcti, workDir: join(dataDir, AGENT_FILES.tpmDir), logger: log, akHandle: options.akHandle });
  const identity = await bringUpTpm(tpm, { dataDir, uuid: options.uuid, ekAlg: encAlg, hashAlg, signAlg, log });
  const agentId = identity.agentId;
  const agentLog = log.child({ agent_id: agentId });
  const mtls = await loadOrCreateServerCert(dataDir, agentId, contactIp, agentLog);

  const secureDir = join(dataDir, AGENT_FILES.secureDir);
  ensurePrivateDir(secureDir);
  const imaPath = options.imaLog === undefined ? DEFAULT_IMA_LOG : options.imaLog;
  const eventLogPath = options.eventLog === undefined ? DEFAULT_EVENT_LOG : options.eventLog;
  const quotes = new QuoteService({
    tpm,
    hashAlg,
    encAlg,
    signAlg,
    nkPem: nk.publicPem,
    imaLog: imaPath ? new ImaLog(imaPath) : undefined,
    eventLogPath: eventLogPath ?? undefined,
    log: agentLog,
  });
  await quotes.selfTest();
  const keys = new BootstrapKeys(agentId);
  const background = new Background();
  const payloadQueue = new SerialQueue();
  let lastPayload: BackgroundResult<PayloadOutcome> | undefined;
  let lastRevocation: BackgroundResult<RevocationOutcome> | undefined;

  const onKey = (accepted: AcceptedKey) => {
    agentLog.info('bootstrap key K derived (U and V match the auth_tag)');
    const encrypted = accepted.payload;
    if (!encrypted) return;
    background.track(
      payloadQueue.run(async () => {
        try {
          const outcome = await deliverPayload(accepted.key, encrypted, {
            agentId,
            secureDir,
            enableScript: Boolean(options.enablePayloadScript),
            log: agentLog,
          });
          lastPayload = { ok: true, value: outcome };
        } catch (e) {
          const error = asKeylimeError(e);
          agentLog.error('payload refused', { error: error.message });
          lastPayload = { ok: false, error };
        }
      }),
    );
  };

  const onRevocation = (notification: RevocationNotification) => {
    background.track(
      (async () => {
        try {
          const outcome = await handleRevocation(notification, {
            certPath: join(payloadDir(secureDir), REVOCATION_CERT_FILE),
            action: options.revocationAction,
            workDir: dataDir,
            log: agentLog,
          });
          lastRevocation = { ok: true, value: outcome };
        } catch (e) {
          const error = asKeylimeError(e);
          agentLog.error('revocation handling failed', { error: error.message });
          lastRevocation = { ok: false, error };
        }
      })(),
    );
  };

  const info = (): AgentInfo => ({
    agent_uuid: agentId,
    tpm_hash_alg: hashAlg,
    tpm_enc_alg: encAlg,
    tpm_sign_alg: signAlg,
    ak_handle: tpm.currentAk?.persistentHandle ?? 0,
  });

  const app: FastifyInstance = createServer({
    name: 'agent',
    tls: { cert: mtls.certPem, key: mtls.keyPem, ca: [trustedCa], clientAuth: 'required' },
    // A 1 MiB payload (the tenant's limit) in base64 plus the rest of the body.
    bodyLimit: 2 * MiB,
    versions: AGENT_API_VERSIONS,
    versionInfo: () => ({ supported_version: AGENT_API_VERSIONS.at(-1), supported_versions: [...AGENT_API_VERSIONS] }),
    routes: (scope, version) =>
      agentRoutes(scope, version, { nk: nk.key, nkPem: nk.publicPem, keys, quotes, info, onKey, onRevocation, log: agentLog }),
    notFoundStatus: () => notFoundStatus(AGENT_API_VERSIONS),
    logger: agentLog,
  });

  const close = async () => {
    await app.close();
    await background.idle();
  };

  const port = await listen(app, host, options.port ?? DEFAULT_AGENT_PORT);
  const contactPort = options.contactPort ?? port;
  agentLog.info('agent listening', { host, port, contact_ip: contactIp, contact_port: contactPort });
  let registrarVersion: string;
  try {
    const registrar = parseHostPort(options.registrar ?? DEFAULT_REGISTRAR, 8890);
    const registration = await registerAndActivate({
      registrarUrl: `http://${registrar.host.includes(':') ? `[${registrar.host}]` : registrar.host}:${registrar.port}`,
      identity: {
        agentId,
        akPublic: identity.ak.akPublic,
        ekPublic: identity.ekPublic,
        ekCert: identity.ekCert,
        mtlsCertPem: mtls.certPem,
        contactIp,
        contactPort,
      },
      activate: (blob) => tpm.activateCredential(blob),
      backoff: options.registrationBackoff,
      sleep: options.sleep,
      signal: options.signal,
      log: agentLog,
    });
    registrarVersion = registration.version;
  } catch (e) {
    await close();
    throw e;
  }

  return {
    agentId,
    port,
    contactIp,
    contactPort,
    registrarVersion,
    nkPublicPem: nk.publicPem,
    mtlsCertPem: mtls.certPem,
    akPublic: identity.ak.akPublic,
    ekPublic: identity.ekPublic,
    ekCert: identity.ekCert,
    tpm,
    get lastPayload() {
      return lastPayload;
    },
    get lastRevocation() {
      return lastRevocation;
    },
    idle: () => background.idle(),
    close,
  };
}
