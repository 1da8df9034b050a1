/**
 * A typed client for the machine API of a keylime-ts verifier (or of privacyIDEA itself,
 * for the endpoints both have), over mTLS with a certificate from the verifier CA. The
 * privacyIDEA error envelope becomes a KeylimeError whose kind gives the CLI exit code:
 * 404 → not found (4), 403 for attestation → verification (1), other 4xx → input (2).
 */
import { HttpClient, type ClientTls } from './http.js';
import { KeylimeError } from '../errors.js';

export interface MachineApiClientOptions {
  tls?: ClientTls;
  timeoutMs?: number;
}

export interface PiAnswer<T> {
  value: T;
  detail?: Record<string, unknown>;
  /** The whole parsed envelope (auth_items and other top-level members). */
  envelope: Record<string, unknown>;
}

export type Query = Record<string, string | number | undefined>;

export interface MachineItem {
  hostname: string[];
  ip: string | null;
  resolver_name: string;
  id: string;
}

export interface BindingItem {
  id: number;
  serial: string;
  application: string;
  options: Record<string, string>;
  machine_id?: string | null;
  resolver?: string | null;
  hostname?: string;
  type?: string;
}

/** GET /token/ rows. */
export interface TokenItem {
  id: number;
  serial: string;
  tokentype: string;
  active: boolean;
  description: string;
  count: number;
  count_window: number;
  otplen: number;
  info: Record<string, string>;
  username: string;
}

export type AuthItemsValue = Record<string, Array<Record<string, unknown>>>;

const segment = (s: string) => encodeURIComponent(s);

export class MachineApiClient {
  private readonly http: HttpClient;

  constructor(readonly origin: string, options: MachineApiClientOptions = {}) {
    this.http = new HttpClient(origin, { name: 'verifier', tls: options.tls, timeoutMs: options.timeoutMs });
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, options: { query?: Query; body?: Record<string, unknown> } = {}): Promise<PiAnswer<T>> {
    const result = await this.http.request<unknown>(method, path, { query: options.query, body: options.body });
    const envelope = result.body as unknown as Record<string, unknown> | undefined;
    const outcome = envelope?.result as { status?: boolean; value?: T; error?: { code?: number; message?: string } } | undefined;
    if (!outcome || typeof outcome.status !== 'boolean') {
      const keylime = envelope as { status?: unknown } | undefined;
      const hint = result.status === 404 || result.status === 405 ? ' (does this verifier serve the machine API?)' : '';
      const why = typeof keylime?.status === 'string' ? keylime.status : result.text.slice(0, 200) || `HTTP ${result.status}`;
      throw new KeylimeError(result.status === 404 ? 'not_found' : 'unreachable', `${method} ${path} at ${this.origin}: ${why}${hint}`, {
        details: { status: result.status },
      });
    }
    if (outcome.status !== true || result.status !== 200) throw piFailure(result.status, outcome.error, envelope!.detail);
    const detail = envelope!.detail as Record<string, unknown> | undefined;
    return { value: outcome.value as T, ...(detail ? { detail } : {}), envelope: envelope! };
  }

  async listMachines(filter: Query = {}): Promise<MachineItem[]> {
    return (await this.request<MachineItem[]>('GET', '/machine/', { query: filter })).value;
  }

  async attachToken(body: Record<string, unknown>): Promise<number> {
    return (await this.request<number>('POST', '/machine/token', { body })).value;
  }

  async listBindings(query: Query = {}): Promise<BindingItem[]> {
    return (await this.request<BindingItem[]>('GET', '/machine/token', { query })).value;
  }

  async detachFromMachine(serial: string, machineId: string, resolver: string, application: string): Promise<number> {
    const path = `/machine/token/${segment(serial)}/${segment(machineId)}/${segment(resolver)}/${segment(application)}`;
    return (await this.request<number>('DELETE', path)).value;
  }

  async detachBinding(serial: string, application: string, mtid: number): Promise<number> {
    return (await this.request<number>('DELETE', `/machine/token/${segment(serial)}/${segment(application)}/${mtid}`)).value;
  }

  async setOptions(body: Record<string, unknown>): Promise<{ added: number; deleted: number }> {
    return (await this.request<{ added: number; deleted: number }>('POST', '/machine/tokenoption', { body })).value;
  }

  async authItems(query: Query & { hostname: string }, application?: string): Promise<AuthItemsValue> {
    const path = application ? `/machine/authitem/${segment(application)}` : '/machine/authitem';
    return (await this.request<AuthItemsValue>('GET', path, { query })).value;
  }

  async initToken(body: Record<string, unknown>): Promise<{ serial: string; otpkey?: string }> {
    const answer = await this.request<boolean>('POST', '/token/init', { body });
    const detail = answer.detail ?? {};
    const seed = (detail.otpkey as { value?: string } | undefined)?.value;
    return { serial: String(detail.serial ?? body.serial ?? ''), ...(seed ? { otpkey: seed.replace(/^seed:\/\//, '') } : {}) };
  }

  /** Every matching token, following privacyIDEA's pages. */
  async listTokens(query: Query = {}): Promise<TokenItem[]> {
    const tokens: TokenItem[] = [];
    for (let page = 1; ; ) {
      const value = (await this.request<{ tokens: TokenItem[]; next: number | null }>('GET', '/token/', { query: { ...query, page, pagesize: 1000 } })).value;
      tokens.push(...value.tokens);
      if (!value.next || value.next <= page) return tokens;
      page = value.next;
    }
  }

  async deleteToken(serial: string): Promise<number> {
    return (await this.request<number>('DELETE', `/token/${segment(serial)}`)).value;
  }

  async setTokenActive(serial: string, active: boolean): Promise<number> {
    return (await this.request<number>('POST', `/token/${active ? 'enable' : 'disable'}`, { body: { serial } })).value;
  }

  async listResolvers(): Promise<Record<string, { resolvername: string; type: string; data: Record<string, string> }>> {
    return (await this.request<Record<string, { resolvername: string; type: string; data: Record<string, string> }>>('GET', '/machineresolver/')).value;
  }

  async setResolver(name: string, body: Record<string, unknown>): Promise<number> {
    return (await this.request<number>('POST', `/machineresolver/${segment(name)}`, { body })).value;
  }

  async deleteResolver(name: string): Promise<number> {
    return (await this.request<number>('DELETE', `/machineresolver/${segment(name)}`)).value;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

function piFailure(status: number, error: { code?: number; message?: string } | undefined, detail: unknown): KeylimeError {
  const message = error?.message ?? `HTTP ${status}`;
  const details = { status, code: error?.code, detail };
  const eventId = (detail as { event_id?: unknown } | null)?.event_id;
  if (status === 403 && typeof eventId === 'string' && eventId !== '') return new KeylimeError('verification', message, { status, details });
  if (status === 404) return new KeylimeError('not_found', message, { status, details });
  if (status === 401) return new KeylimeError('unauthorized', message, { status, details });
  if (status === 403) return new KeylimeError('forbidden', message, { status, details });
  if (status >= 500) return new KeylimeError('internal', `the verifier failed: ${message}`, { status, details });
  return new KeylimeError('invalid_input', message, { status, details });
}
