import { Pool, type Dispatcher } from 'undici';
import { KeylimeError } from '../errors.js';
import type { Envelope } from '../servers/http/envelope.js';
import { DEFAULT_RETRY, realSleep, retryDelaySeconds, type RetryPolicy, type Sleep } from './retry.js';

export interface ClientTls {
  /** Trusted server roots: the CA, plus pinned certificates (an agent's self-signed mtls_cert). */
  ca?: string[];
  /** Client certificate and key for mTLS. */
  cert?: string;
  key?: string;
}

export interface HttpClientOptions {
  /** Shown in errors: "registrar", "verifier", "agent d432fbb3-...". */
  name: string;
  tls?: ClientTls;
  /** Per-request timeout (Keylime request_timeout, default 60 s). */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Keep-alive connections to this origin. */
  connections?: number;
  sleep?: Sleep;
  /** Told before each wait, so a CLI can say why it is quiet. */
  onRetry?: (info: { attempt: number; maxRetries: number; delaySeconds: number; reason: string }) => void;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Retry on connection failures (and on `retryStatuses`) with the client's backoff. */
  retry?: boolean;
  retryStatuses?: number[];
  timeoutMs?: number;
}

export interface HttpResult<T> {
  status: number;
  /** The parsed envelope; undefined when the body was empty (204) or not JSON. */
  body: Envelope<T> | undefined;
  text: string;
}

/**
 * A typed client for one Keylime server origin: undici pool with keep-alive, optional
 * mTLS (hostnames are not checked, as Keylime's clients do not), per-request timeouts and
 * Keylime's retry/backoff semantics for connection failures.
 */
export class HttpClient {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly options: HttpClientOptions;

  constructor(origin: string, options: HttpClientOptions) {
    this.origin = origin.replace(/\/$/, '');
    this.options = options;
    const tls = options.tls;
    this.pool = new Pool(this.origin, {
      connections: options.connections ?? 4,
      keepAliveTimeout: 30_000,
      connect: tls
        ? {
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            rejectUnauthorized: true,
            checkServerIdentity: () => undefined,
            minVersion: 'TLSv1.2',
          }
        : undefined,
    });
  }

  get<T = Record<string, unknown>>(path: string, opts: RequestOptions = {}) {
    return this.request<T>('GET', path, opts);
  }
  post<T = Record<string, unknown>>(path: string, body: unknown, opts: RequestOptions = {}) {
    return this.request<T>('POST', path, { ...opts, body });
  }
  put<T = Record<string, unknown>>(path: string, body: unknown, opts: RequestOptions = {}) {
    return this.request<T>('PUT', path, { ...opts, body });
  }
  delete<T = Record<string, unknown>>(path: string, opts: RequestOptions = {}) {
    return this.request<T>('DELETE', path, opts);
  }

  async request<T>(method: Dispatcher.HttpMethod, path: string, opts: RequestOptions = {}): Promise<HttpResult<T>> {
    const policy = this.options.retry ?? DEFAULT_RETRY;
    const sleep = this.options.sleep ?? realSleep;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.once<T>(method, path, opts);
        if (opts.retry && opts.retryStatuses?.includes(result.status) && attempt <= policy.maxRetries) {
          await this.wait(policy, attempt, `HTTP ${result.status} from the ${this.options.name}`, sleep);
          continue;
        }
        return result;
      } catch (e) {
        if (!opts.retry || attempt > policy.maxRetries || !(e instanceof KeylimeError) || e.code !== 'unreachable') throw e;
        await this.wait(policy, attempt, e.message, sleep);
      }
    }
  }

  private async wait(policy: RetryPolicy, attempt: number, reason: string, sleep: Sleep): Promise<void> {
    const delaySeconds = retryDelaySeconds(policy, attempt);
    this.options.onRetry?.({ attempt, maxRetries: policy.maxRetries, delaySeconds, reason });
    await sleep(delaySeconds * 1000);
  }

  private async once<T>(method: Dispatcher.HttpMethod, path: string, opts: RequestOptions): Promise<HttpResult<T>> {
    const query = opts.query
      ? Object.fromEntries(Object.entries(opts.query).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))
      : undefined;
    const timeout = opts.timeoutMs ?? this.options.timeoutMs ?? 60_000;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        method,
        path,
        query,
        headers: opts.body === undefined ? {} : { 'content-type': 'application/json' },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new KeylimeError('unreachable', `cannot reach the ${this.options.name} at ${this.origin}: ${describeNetworkError(err)}`, {
        cause: e,
        details: { origin: this.origin, code: err.code },
      });
    }
    const text = await response.body.text();
    let body: Envelope<T> | undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text) as Envelope<T>;
      } catch {
        body = undefined;
      }
    }
    return { status: response.statusCode, body, text };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Aborts requests in flight and closes the connections at once (server shutdown). */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

function describeNetworkError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is it running?)';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timed out';
    case 'ENOTFOUND':
      return 'host not found';
    default:
      return err.message || String(err.code);
  }
}

/** Throws a KeylimeError carrying the server's status text unless the status is expected. */
export function expectStatus<T>(result: HttpResult<T>, expected: number | number[], what: string): Envelope<T> {
  const ok = Array.isArray(expected) ? expected.includes(result.status) : result.status === expected;
  if (ok && result.body) return result.body;
  if (ok) return { code: result.status, status: '', results: {} as T };
  const reason = result.body?.status || result.text.slice(0, 200) || `HTTP ${result.status}`;
  const code = result.status === 404 ? 'not_found' : result.status === 403 ? 'forbidden' : result.status === 409 ? 'conflict' : result.status >= 500 ? 'unreachable' : 'invalid_input';
  throw new KeylimeError(code, `${what}: ${reason} (HTTP ${result.status})`, { details: { status: result.status } });
}
