import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_RETRY, type RetryPolicy } from '../../client/retry.js';
import { caDir } from '../../config.js';
import { silentLogger, type Logger } from '../../log.js';
import { clientTlsMaterial, serverTlsMaterial } from '../http/ca-material.js';
import { createServer, listen, MiB } from '../http/server.js';
import { SERVER_API_VERSIONS, SERVER_CURRENT_VERSION } from '../http/versions.js';
import { HttpAgentApi, type AgentApi, type AgentTls } from './agent-client.js';
import { systemClock, type Clock } from './clock.js';
import { imaEvaluator, measuredBootEvaluator } from './evaluators.js';
import type { EvidenceEvaluator } from './evidence.js';
import { AttestationMachine } from './machine.js';
import { VerifierMetrics } from './metrics.js';
import { randomNonce } from './nonce.js';
import { RevocationNotifier, type RevocationTarget } from './revocation.js';
import { PROMETHEUS_CONTENT_TYPE, verifierRootRoutes, verifierRoutes } from './routes.js';
import { metricsSnapshot, type VerifierDeps } from './service.js';
import { SeverityPolicy } from './severity.js';
import { COUNTER_FLUSH_MS, VerifierStore } from './store.js';
import { agentAttestation, looksLikeAgentId, registerMachineApi } from '../machines/index.js';

export interface VerifierOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  dataDir: string;
  /** Keylime `[verifier] uuid`. */
  verifierId?: string;
  /** Seconds between quotes of one agent (default 2; 0 = back to back). */
  quoteIntervalSeconds?: number;
  /** retry_interval / max_retries / exponential_backoff (default 2 s, 5, true). */
  retry?: RetryPolicy;
  /** Per-request timeout to agents (default 60 s). */
  requestTimeoutMs?: number;
  severity?: SeverityPolicy;
  /** Where revocation notifications go (default: the other agents of this verifier). */
  revocation?: { targets?: RevocationTarget[]; webhookUrl?: string };
  /** Plain-HTTP /metrics on this loopback port (off when undefined); admins also get /metrics over mTLS. */
  metricsPort?: number;
  /** Agents polled at once, at most (default 64). */
  concurrency?: number;
  /** CA directory (default <dataDir>/cv_ca, created with its certificates on first start). */
  certDir?: string;
  /** Server TLS (default: the server certificate in certDir). */
  tls?: { cert: string; key: string; ca: string[] };
  /** Client TLS towards agents and webhook (default: the client certificate in certDir). */
  agentTls?: AgentTls;
  /** Evidence evaluators (default: measured boot, then IMA); agents needing a missing one are refused. */
  evaluators?: EvidenceEvaluator[];
  /** Keylime measured_boot_policy_name: the engine the per-agent refstates feed (default accept-all). */
  measuredBootPolicyName?: string;
  /** Keylime measured_boot_evaluate: once (first attestation, default) or always. */
  measuredBootEvaluate?: 'once' | 'always';
  /** Keylime ignore_tomtou_errors (sic: true reports ToMToU entries as failures). */
  ignoreTomtouErrors?: boolean;
  logger?: Logger;
  /** How long requests in flight may finish at shutdown (Keylime shutdown_drain_timeout, default 10 s). */
  shutdownDrainMs?: number;
  /** Injected in tests. */
  clock?: Clock;
  nonce?: (agentId: string) => string;
  agentApi?: AgentApi;
}

export interface RunningVerifier {
  port: number;
  metricsPort: number | undefined;
  deps: VerifierDeps;
  machine: AttestationMachine;
  notifier: RevocationNotifier;
  /** Agents that resumed polling at start. */
  resumed: string[];
  /** Stops listening and polling, flushes counters, closes connections. */
  close(): Promise<void>;
}

function versionInfo() {
  return { current_version: SERVER_CURRENT_VERSION, supported_versions: [...SERVER_API_VERSIONS] };
}

/** Server and agent-facing TLS from a cv_ca directory, creating the CA on first start (tls_dir=generate). */
async function caMaterial(dir: string, host: string, log: Logger): Promise<{ server: { cert: string; key: string; ca: string[] }; client: AgentTls }> {
  const server = await serverTlsMaterial(dir, { hosts: [host], log });
  const client = clientTlsMaterial(dir);
  return { server: { cert: server.cert, key: server.key, ca: [server.ca] }, client: { ca: [client.ca], cert: client.cert, key: client.key } };
}

export function buildVerifierApp(deps: VerifierDeps, tls: { cert: string; key: string; ca: string[] } | undefined): FastifyInstance {
  return createServer({
    name: 'verifier',
    tls: tls ? { ...tls, clientAuth: 'optional' } : undefined,
    bodyLimit: 100 * MiB,
    versions: SERVER_API_VERSIONS,
    versionInfo,
    routes: (scope, version) => verifierRoutes(scope, version, deps),
    rootRoutes: (app) => verifierRootRoutes(app, deps, versionInfo),
    // Machines hold CA certificates too (CN = their agent id, for the /machine API); those
    // identify a machine, not an administrator, and must not reach the admin API.
    refusePeer: (peer) => {
      const cn = typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
      if (cn && (looksLikeAgentId(cn) || deps.store.get(cn))) return `the certificate of machine '${cn}' cannot administer the verifier`;
      return undefined;
    },
    logger: deps.log,
  });
}

/** Plain-HTTP metrics stay on loopback: the verifier's own loopback address, else 127.0.0.1. */
function metricsHost(host: string): string {
  return host === '::1' || host.startsWith('127.') || host === 'localhost' ? host : '127.0.0.1';
}

function startMetricsListener(deps: VerifierDeps, host: string, port: number): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
      res.end(deps.metrics.render(metricsSnapshot(deps)));
    } else if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: this port serves GET /metrics and /healthz\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/**
 * Starts the verifier: CA on first start, store, the polling machine (every agent of this
 * verifier in {1,3,4,5,6} resumes), the mTLS API and, if asked, plain /metrics.
 */
export async function startVerifier(options: VerifierOptions): Promise<RunningVerifier> {
  const log = options.logger ?? silentLogger;
  const verifierId = options.verifierId ?? 'default';
  const retry = options.retry ?? DEFAULT_RETRY;
  const quoteIntervalSeconds = options.quoteIntervalSeconds ?? 2;
  const timeoutMs = options.requestTimeoutMs ?? 60_000;
  const material = options.tls && options.agentTls ? undefined : await caMaterial(options.certDir ?? caDir(options.dataDir), options.host, log);
  const serverTls = options.tls ?? material!.server;
  const agentTls = options.agentTls ?? material!.client;

  const store = await VerifierStore.open(options.dataDir);
  const metrics = new VerifierMetrics();
  const api = options.agentApi ?? new HttpAgentApi(agentTls, timeoutMs);
  const clock = options.clock ?? systemClock;
  const severity = options.severity ?? new SeverityPolicy();
  const evaluators = options.evaluators ?? [
    measuredBootEvaluator({ policyName: options.measuredBootPolicyName, evaluate: options.measuredBootEvaluate }),
    imaEvaluator({ reportTomtou: options.ignoreTomtouErrors }),
  ];
  const targets = new Set<RevocationTarget>(options.revocation?.targets ?? ['agent']);
  const notifier = new RevocationNotifier({
    targets,
    webhookUrl: options.revocation?.webhookUrl,
    webhookTls: agentTls,
    retry,
    agentVersions: SERVER_API_VERSIONS,
    verifierId,
    store,
    api,
    log,
    metrics,
    timeoutMs,
  });
  const machine = new AttestationMachine({
    store,
    api,
    clock,
    nonce: options.nonce ?? (() => randomNonce()),
    severity,
    evaluators,
    revocation: notifier,
    metrics,
    log,
    config: {
      verifierId,
      quoteIntervalMs: quoteIntervalSeconds * 1000,
      retry,
      agentVersions: SERVER_API_VERSIONS,
      concurrency: options.concurrency ?? 64,
    },
  });
  const deps: VerifierDeps = {
    store,
    machine,
    evaluators,
    metrics,
    clock,
    log,
    config: { verifierId, verifierIp: options.host, verifierPort: options.port, quoteIntervalSeconds },
  };

  const app = buildVerifierApp(deps, serverTls);
  // The privacyIDEA-compatible /machine API: tokens go only to machines that pass attestation.
  registerMachineApi(app, {
    dataDir: options.dataDir,
    agents: { list: () => store.all().filter((a) => a.verifier_id === verifierId), get: (id) => store.get(id) },
    attestation: (id) => agentAttestation(store.get(id)),
    log,
  });
  let metricsServer: Server | undefined;
  const drainMs = options.shutdownDrainMs ?? 10_000;
  const shutdown = async () => {
    await app.close();
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    await machine.close(drainMs);
    await notifier.close(drainMs);
    store.stopFlushing();
    await store.flush();
    await api.close();
  };
  try {
    const port = await listen(app, options.host, options.port);
    deps.config.verifierPort = port;
    if (options.metricsPort !== undefined) metricsServer = await startMetricsListener(deps, metricsHost(options.host), options.metricsPort);
    const metricsAddr = metricsServer?.address();
    const metricsPort = typeof metricsAddr === 'object' && metricsAddr ? metricsAddr.port : undefined;
    store.startFlushing(COUNTER_FLUSH_MS, (e) => log.error('counter flush failed', { error: (e as Error).message }));
    const resumed = await machine.resumeAll();
    log.info('verifier listening', {
      host: options.host,
      port,
      metrics_port: metricsPort ?? null,
      verifier_id: verifierId,
      data: join(options.dataDir, 'verifier-agents.json'),
      resumed: resumed.length,
      quote_interval_s: quoteIntervalSeconds,
    });
    return { port, metricsPort, deps, machine, notifier, resumed, close: shutdown };
  } catch (e) {
    await shutdown().catch(() => undefined);
    throw e;
  }
}
