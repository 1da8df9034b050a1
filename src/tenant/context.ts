import { HttpClient, type HttpClientOptions } from '../client/http.js';
import { DEFAULT_RETRY, type RetryPolicy, type Sleep } from '../client/retry.js';
import type { TlsMaterial } from '../crypto/ca.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { negotiateVersion, SERVER_API_VERSIONS } from '../servers/http/versions.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface TenantConfig {
  registrar: Endpoint;
  verifier: Endpoint;
  /** The tenant's client certificate, key and the CA that signs the servers (cv_ca). */
  tls: TlsMaterial;
  retry?: RetryPolicy;
  timeoutMs?: number;
  log?: Logger;
  sleep?: Sleep;
  /** Told before each retry wait (the CLI prints it on stderr). */
  onRetry?: HttpClientOptions['onRetry'];
}

/** API versions the tenant speaks to registrars and verifiers (never 3.x, as Keylime's tenant). */
export const TENANT_API_VERSIONS = [...SERVER_API_VERSIONS, '2.6'] as const;

function origin(e: Endpoint, scheme: 'https' | 'http' = 'https'): string {
  return `${scheme}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/**
 * One tenant session: mTLS clients for the registrar and the verifier (keep-alive, Keylime
 * backoff), with the API version of each negotiated once through GET /version.
 */
export class TenantContext {
  readonly registrar: HttpClient;
  readonly verifier: HttpClient;
  readonly log: Logger;
  readonly retry: RetryPolicy;
  private versions = new Map<HttpClient, Promise<string>>();

  constructor(readonly config: TenantConfig) {
    this.log = config.log ?? silentLogger;
    this.retry = config.retry ?? DEFAULT_RETRY;
    const tls = { ca: [config.tls.ca], cert: config.tls.cert, key: config.tls.key };
    const common = { tls, retry: this.retry, timeoutMs: config.timeoutMs, sleep: config.sleep, onRetry: config.onRetry };
    this.registrar = new HttpClient(origin(config.registrar), { name: 'registrar', ...common });
    this.verifier = new HttpClient(origin(config.verifier), { name: 'verifier', ...common });
  }

  /** Versioned path for the registrar or verifier: negotiates once, falls back to 2.1 as Keylime's tenant does. */
  async path(client: HttpClient, resource: string): Promise<string> {
    let version = this.versions.get(client);
    if (!version) {
      version = negotiate(client);
      this.versions.set(client, version);
    }
    return `/v${await version}${resource}`;
  }

  /** A client for an agent: HTTPS with the agent's registered mtls_cert pinned, or plain HTTP when mTLS is disabled. */
  agentClient(ip: string, port: number, mtlsCert: string | null): HttpClient {
    const plain = mtlsCert === null || mtlsCert === 'disabled';
    const endpoint = { host: ip, port };
    return new HttpClient(origin(endpoint, plain ? 'http' : 'https'), {
      name: `agent at ${ip}:${port}`,
      retry: this.retry,
      timeoutMs: this.config.timeoutMs,
      sleep: this.config.sleep,
      onRetry: this.config.onRetry,
      tls: plain ? undefined : { ca: [this.config.tls.ca, mtlsCert], cert: this.config.tls.cert, key: this.config.tls.key },
    });
  }

  /** "registrar 127.0.0.1:8891" / "verifier 127.0.0.1:8881", for error sentences. */
  describe(which: 'registrar' | 'verifier'): string {
    const e = this.config[which];
    return `${which} ${e.host}:${e.port}`;
  }

  async close(): Promise<void> {
    await Promise.all([this.registrar.close(), this.verifier.close()]);
  }
}

async function negotiate(client: HttpClient): Promise<string> {
  const r = await client.get<{ supported_versions?: string[]; current_version?: string }>('/version', { retry: true });
  const remote = r.status === 200 ? (r.body?.results.supported_versions ?? r.body?.results.current_version) : undefined;
  return (remote && negotiateVersion(remote, TENANT_API_VERSIONS)) ?? '2.1';
}
