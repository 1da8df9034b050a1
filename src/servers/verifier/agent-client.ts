import { isIP } from 'node:net';
import { HttpClient, type HttpResult } from '../../client/http.js';
import { KeylimeError } from '../../errors.js';

/** What the verifier needs to reach one agent. */
export interface AgentAddress {
  agent_id: string;
  ip: string;
  port: number;
  /** PEM pinned as an extra trust anchor. */
  mtls_cert: string;
}

/**
 * An agent's answer reduced to what the state machine decides on. Connection failures and
 * timeouts are status 599, as Keylime's HTTP client reports them.
 */
export interface AgentReply {
  status: number;
  /** The envelope's status text (or the network error). */
  message: string;
  results: Record<string, unknown> | undefined;
}

export const UNREACHABLE_STATUS = 599;

export interface QuoteParams {
  nonce: string;
  mask: string;
  partial: 0 | 1;
  imaMlEntry: number;
}

/** The verifier's calls to agents; a fake in unit tests, HTTPS pools in production. */
export interface AgentApi {
  getIntegrityQuote(agent: AgentAddress, version: string, params: QuoteParams): Promise<AgentReply>;
  postVKey(agent: AgentAddress, version: string, encryptedKey: string): Promise<AgentReply>;
  getVersion(agent: AgentAddress): Promise<AgentReply>;
  postRevocation(agent: AgentAddress, version: string, notification: { msg: string; signature: string }): Promise<AgentReply>;
  /** Drops pooled connections of an agent (deleted, reactivated, address changed). */
  forget(agentId: string): Promise<void>;
  /** Closes every connection, aborting requests still in flight. */
  close(): Promise<void>;
}

export interface AgentTls {
  /** CA certificate(s) trusted for agent server certificates (cv_ca/cacert.crt). */
  ca: string[];
  /** The verifier's client certificate and key (cv_ca/client-*). */
  cert: string;
  key: string;
}

/** Builds the agent origin; IPv6 literals are bracketed (Keylime does not, a bug we skip). */
export function agentOrigin(ip: string, port: number): string {
  return `https://${isIP(ip) === 6 ? `[${ip}]` : ip}:${port}`;
}

interface Pooled {
  key: string;
  client: HttpClient;
}

/**
 * HTTPS to agents over keep-alive pools, one per agent: trust = the CA plus the agent's
 * registered mtls_cert, client certificate = the verifier's. Hostnames are not checked.
 */
export class HttpAgentApi implements AgentApi {
  private readonly pools = new Map<string, Pooled>();

  constructor(
    private readonly tls: AgentTls,
    private readonly timeoutMs: number,
  ) {}

  private client(agent: AgentAddress): HttpClient {
    const key = `${agent.ip}\n${agent.port}\n${agent.mtls_cert}`;
    const existing = this.pools.get(agent.agent_id);
    if (existing && existing.key === key) return existing.client;
    if (existing) void existing.client.close().catch(() => undefined);
    const client = new HttpClient(agentOrigin(agent.ip, agent.port), {
      name: `agent ${agent.agent_id}`,
      tls: { ca: [...this.tls.ca, agent.mtls_cert], cert: this.tls.cert, key: this.tls.key },
      timeoutMs: this.timeoutMs,
      connections: 1,
    });
    this.pools.set(agent.agent_id, { key, client });
    return client;
  }

  getIntegrityQuote(agent: AgentAddress, version: string, p: QuoteParams): Promise<AgentReply> {
    return this.call(() =>
      this.client(agent).get(`/v${version}/quotes/integrity`, {
        query: { nonce: p.nonce, mask: p.mask, partial: p.partial, ima_ml_entry: p.imaMlEntry },
      }),
    );
  }

  postVKey(agent: AgentAddress, version: string, encryptedKey: string): Promise<AgentReply> {
    return this.call(() => this.client(agent).post(`/v${version}/keys/vkey`, { encrypted_key: encryptedKey }));
  }

  getVersion(agent: AgentAddress): Promise<AgentReply> {
    return this.call(() => this.client(agent).get('/version'));
  }

  postRevocation(agent: AgentAddress, version: string, notification: { msg: string; signature: string }): Promise<AgentReply> {
    return this.call(() => this.client(agent).post(`/v${version}/notifications/revocation`, notification));
  }

  async forget(agentId: string): Promise<void> {
    const pooled = this.pools.get(agentId);
    this.pools.delete(agentId);
    await pooled?.client.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.client.destroy().catch(() => undefined)));
  }

  private async call(fn: () => Promise<HttpResult<Record<string, unknown>>>): Promise<AgentReply> {
    try {
      const r = await fn();
      const results = r.body && typeof r.body.results === 'object' && r.body.results !== null ? (r.body.results as Record<string, unknown>) : undefined;
      return { status: r.status, message: typeof r.body?.status === 'string' ? r.body.status : r.text.slice(0, 200), results };
    } catch (e) {
      if (e instanceof KeylimeError && e.code === 'unreachable') return { status: UNREACHABLE_STATUS, message: e.message, results: undefined };
      throw e;
    }
  }
}
