/**
 * A whole pull-mode deployment on loopback: the verifier's CA (cv_ca, made by our `ca`
 * code and shared as Keylime does), our registrar, real agents on their own swtpm, a
 * webhook receiver, and the tenant's side of enrollment done by hand (registrar lookup,
 * U with auth_tag, POST to the verifier), so the verifier is tested against real TPMs.
 */
import { execFileSync } from 'node:child_process';
import { constants, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient } from '../../../src/client/http.js';
import { initCa, readTlsMaterial, type TlsMaterial } from '../../../src/crypto/ca.js';
import { startAgent, type AgentOptions, type RunningAgent } from '../../../src/servers/agent/index.js';
import { startRegistrar, type RunningRegistrar } from '../../../src/servers/registrar/server.js';
import { freePort, startSwtpm, type Swtpm } from '../../support/swtpm.js';

export const noRetry = { retryInterval: 0, maxRetries: 0, exponentialBackoff: false };

export interface Notification {
  msg: string;
  signature: string;
  receivedAt: number;
}

export interface Webhook {
  url: string;
  received: Notification[];
  close(): Promise<void>;
}

export async function startWebhook(): Promise<Webhook> {
  const received: Notification[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { msg: string; signature: string };
      received.push({ ...parsed, receivedAt: Date.now() });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/revocations`, received, close: () => new Promise((r) => server.close(() => r())) };
}

/** The tenant's revocation key pair: an RSA key and a self-signed RevocationNotifier certificate (openssl). */
export function revocationKeyPair(dir: string): { keyPem: string; certPem: string } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rev.key', '-out', 'rev.crt', '-days', '2', '-subj', '/CN=RevocationNotifier'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return { keyPem: readFileSync(join(dir, 'rev.key'), 'utf8'), certPem: readFileSync(join(dir, 'rev.crt'), 'utf8') };
}

export interface Stack {
  dir: string;
  caDir: string;
  client: TlsMaterial;
  registrar: RunningRegistrar;
  registrarTenant: HttpClient;
  tpms: Swtpm[];
  agentOptions(tpm: Swtpm, uuid: string, extra?: Partial<AgentOptions>): AgentOptions;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-verifier-it-'));
  const caDir = join(dir, 'cv_ca');
  await initCa(caDir, { hosts: ['127.0.0.1'] });
  const server = readTlsMaterial(caDir, 'server');
  const client = readTlsMaterial(caDir, 'client');
  const registrar = await startRegistrar({
    host: '127.0.0.1',
    port: 0,
    tlsPort: 0,
    dataDir: join(dir, 'registrar'),
    tls: { cert: server.cert, key: server.key, ca: [server.ca] },
  });
  const registrarTenant = new HttpClient(`https://127.0.0.1:${registrar.tlsPort}`, {
    name: 'registrar',
    retry: noRetry,
    tls: { ca: [client.ca], cert: client.cert, key: client.key },
  });
  const tpms: Swtpm[] = [];
  return {
    dir,
    caDir,
    client,
    registrar,
    registrarTenant,
    tpms,
    agentOptions(tpm, uuid, extra = {}) {
      return {
        uuid,
        dataDir: join(dir, `agent-${uuid}`),
        host: '127.0.0.1',
        port: 0,
        registrar: `127.0.0.1:${registrar.port}`,
        tcti: tpm.tcti,
        trustedClientCa: join(caDir, 'cacert.crt'),
        imaLog: null,
        eventLog: null,
        registrationBackoff: { initialDelayMs: 10, maxRetries: 2, maxDelayMs: 50 },
        ...extra,
      };
    },
    async close() {
      await registrarTenant.close();
      await registrar.close();
      await Promise.all(tpms.map((t) => t.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function newTpm(stack: Stack): Promise<Swtpm> {
  const tpm = await startSwtpm();
  stack.tpms.push(tpm);
  return tpm;
}

/** K, V and U = K xor V, auth_tag = HMAC-SHA384(K, id) (§3.3). */
export function splitKey(agentId: string) {
  const k = randomBytes(32);
  const v = randomBytes(32);
  const u = Buffer.from(k.map((b, i) => b ^ v[i]!));
  return { k, u, v, authTag: createHmac('sha384', k).update(agentId).digest('hex') };
}

export interface Enrolled {
  k: Buffer;
  agentApi: HttpClient;
}

export interface EnrollOptions {
  tpmPolicy?: string;
  revocationKey?: string;
  /** Omitted: the verifier starts at its own current version and renegotiates. */
  supportedVersion?: string;
  verifierUrlVersion?: string;
}

/**
 * The tenant's add: agent data from the registrar, U to the agent, then POST to the
 * verifier with V, the AK and the agent's mTLS certificate.
 */
export async function enroll(stack: Stack, verifier: HttpClient, agent: RunningAgent, o: EnrollOptions = {}): Promise<Enrolled> {
  const reg = await stack.registrarTenant.get<Record<string, unknown>>(`/v2.2/agents/${agent.agentId}`);
  if (reg.status !== 200) throw new Error(`registrar: ${reg.status} ${reg.text}`);
  const r = reg.body!.results;
  const { k, u, v, authTag } = splitKey(agent.agentId);
  const agentApi = new HttpClient(`https://${String(r.ip)}:${Number(r.port)}`, {
    name: 'agent',
    retry: noRetry,
    tls: { ca: [String(r.mtls_cert)], cert: stack.client.cert, key: stack.client.key },
  });
  const encryptedU = publicEncrypt({ key: agent.nkPublicPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, u).toString('base64');
  const ukey = await agentApi.post('/v2.1/keys/ukey', { auth_tag: authTag, encrypted_key: encryptedU });
  if (ukey.status !== 200) throw new Error(`ukey: ${ukey.status} ${ukey.text}`);
  const body: Record<string, unknown> = {
    v: v.toString('base64'),
    cloudagent_ip: r.ip,
    cloudagent_port: r.port,
    tpm_policy: o.tpmPolicy ?? '{"mask": "0x0"}',
    runtime_policy: '',
    runtime_policy_name: null,
    runtime_policy_key: null,
    mb_policy: null,
    mb_policy_name: '',
    ima_sign_verification_keys: '',
    metadata: '{"cert_serial": 7, "subject": "test"}',
    revocation_key: o.revocationKey ?? '',
    accept_tpm_hash_algs: ['sha512', 'sha384', 'sha256'],
    accept_tpm_encryption_algs: ['ecc', 'rsa'],
    accept_tpm_signing_algs: ['ecschnorr', 'rsassa'],
    ak_tpm: r.aik_tpm,
    mtls_cert: r.mtls_cert,
  };
  if (o.supportedVersion) body.supported_version = o.supportedVersion;
  const added = await verifier.post(`/v${o.verifierUrlVersion ?? '2.1'}/agents/${agent.agentId}`, body);
  if (added.status !== 200) throw new Error(`verifier POST: ${added.status} ${added.text}`);
  return { k, agentApi };
}

export function adminClient(stack: Stack, origin: string): HttpClient {
  return new HttpClient(origin, { name: 'verifier', retry: noRetry, tls: { ca: [stack.client.ca], cert: stack.client.cert, key: stack.client.key } });
}

export async function agentStatus(verifier: HttpClient, id: string): Promise<{ status: number; results: Record<string, unknown> }> {
  const r = await verifier.get<Record<string, unknown>>(`/v2.1/agents/${id}`);
  return { status: r.status, results: r.body?.results ?? {} };
}

/** Polls `check` every 100 ms until it returns a value, or fails after `ms`. */
export async function waitFor<T>(what: string, ms: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A self-signed server certificate (openssl), as an agent would make for itself. */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kts-selfsigned-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=silent', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
}

export interface BlackHole {
  port: number;
  /** Its self-signed certificate: what the verifier pins as the "agent's" mtls_cert. */
  cert: string;
  /** Connections it has seen closed by the other side. */
  readonly closedByPeer: number;
  close(): Promise<void>;
}

/** An "agent" that completes the TLS handshake and then never answers: requests to it hang. */
export async function startBlackHole(): Promise<BlackHole> {
  const { cert, key } = selfSignedCert();
  let closedByPeer = 0;
  const sockets = new Set<import('node:tls').TLSSocket>();
  const server = createTlsServer({ cert, key }, (socket) => {
    sockets.add(socket);
    // Read and drop the request, so the peer closing the connection is noticed.
    socket.resume();
    socket.on('close', () => {
      closedByPeer++;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    cert,
    get closedByPeer() {
      return closedByPeer;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A POST body for an agent at 127.0.0.1:port with the given pinned certificate and AK. */
export { directEnrollmentBody } from '../../support/enrollment.js';

export { freePort, startAgent };
