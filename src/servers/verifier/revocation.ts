import { constants, createPrivateKey, sign } from 'node:crypto';
import { HttpClient } from '../../client/http.js';
import { retryDelaySeconds, realSleep, type RetryPolicy, type Sleep } from '../../client/retry.js';
import { invalidInput } from '../../errors.js';
import type { Logger } from '../../log.js';
import { pyJsonDumps } from '../../quote/pyjson.js';
import { negotiateVersion } from '../http/versions.js';
import type { AgentApi, AgentReply } from './agent-client.js';
import { withTimeout } from './timeout.js';
import type { VerifierMetrics } from './metrics.js';
import type { VerifierAgent } from './record.js';
import type { RankedEvent } from './severity.js';
import { State } from './states.js';
import type { VerifierStore } from './store.js';

export type NotificationType = 'revocation' | 'comm_error';

/** What travels: {"msg": "<JSON text>", "signature": "<b64 RSA-PSS or empty>"} (§9). */
export interface RevocationNotification {
  msg: string;
  signature: string;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** Python's time.asctime() in local time: "Mon Aug  3 07:14:14 2026". */
export function asctime(d: Date): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** Keylime's prepare_error message text, field order and separators included (§9). */
export function revocationMessage(agent: Readonly<VerifierAgent>, type: NotificationType, event: RankedEvent | undefined, now: Date): string {
  const msg = new Map<string, unknown>([
    ['type', type],
    ['ip', agent.ip],
    ['agent_id', agent.agent_id],
    ['port', agent.port],
    ['tpm_policy', agent.tpm_policy],
    ['meta_data', agent.meta_data],
    ['event_time', asctime(now)],
  ]);
  if (event) {
    msg.set('event_id', event.eventId);
    msg.set('severity_label', event.severityLabel);
    msg.set('context', event.contextJson);
  }
  return pyJsonDumps(msg);
}

/** b64 RSA-PSS(SHA-256, MGF1-SHA-256, maximum salt) over the message bytes; "" without a key. */
export function signRevocationMessage(msg: string, revocationKeyPem: string): string {
  if (revocationKeyPem === '') return '';
  const key = createPrivateKey(revocationKeyPem);
  return sign('sha256', Buffer.from(msg, 'utf8'), {
    key,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN,
  }).toString('base64');
}

/** The revocation_key the tenant sends: "" or an RSA private key PEM. */
export function checkRevocationKey(pem: string): void {
  if (pem === '') return;
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`a ${key.asymmetricKeyType} key`);
  } catch (e) {
    throw invalidInput(`Field 'revocation_key' must be "" or an RSA private key PEM (${(e as Error).message})`);
  }
}

export type RevocationTarget = 'agent' | 'webhook';

export interface RevocationOptions {
  targets: ReadonlySet<RevocationTarget>;
  webhookUrl?: string;
  /** TLS for an https webhook: the verifier's client certificate and trusted roots. */
  webhookTls?: { ca?: string[]; cert?: string; key?: string };
  retry: RetryPolicy;
  agentVersions: readonly string[];
  verifierId: string;
  store: VerifierStore;
  api: AgentApi;
  log: Logger;
  metrics: VerifierMetrics;
  now?: () => Date;
  sleep?: Sleep;
  timeoutMs?: number;
}

/** Receives notifications to send; the state machine needs no more than this. */
export interface RevocationSink {
  notify(agent: Readonly<VerifierAgent>, type: NotificationType, event?: RankedEvent): void;
}

/**
 * Sends revocation notifications in the background (a failing agent never waits for
 * them): to the other agents of this verifier at POST /notifications/revocation, and to a
 * webhook with retries. Every attempt is logged.
 */
export class RevocationNotifier implements RevocationSink {
  private readonly inFlight = new Set<Promise<void>>();
  private webhook: HttpClient | undefined;
  private readonly webhookPath: string;

  constructor(private readonly o: RevocationOptions) {
    if (o.targets.has('webhook') && o.webhookUrl) {
      const url = new URL(o.webhookUrl);
      this.webhookPath = url.pathname + url.search;
      this.webhook = new HttpClient(url.origin, {
        name: 'revocation webhook',
        tls: url.protocol === 'https:' ? o.webhookTls : undefined,
        timeoutMs: o.timeoutMs ?? 60_000,
      });
    } else {
      this.webhookPath = '/';
    }
  }

  notify(agent: Readonly<VerifierAgent>, type: NotificationType, event?: RankedEvent): void {
    const now = this.o.now?.() ?? new Date();
    let notification: RevocationNotification;
    try {
      const msg = revocationMessage(agent, type, event, now);
      notification = { msg, signature: signRevocationMessage(msg, agent.revocation_key) };
    } catch (e) {
      this.o.log.error('revocation notification could not be signed', { agent: agent.agent_id, error: (e as Error).message });
      return;
    }
    this.o.log.warn('sending revocation notification', { agent: agent.agent_id, type, event: event?.eventId ?? null, signed: notification.signature !== '' });
    const jobs: Promise<void>[] = [];
    if (this.o.targets.has('agent')) jobs.push(this.toAgents(agent, type, notification));
    if (this.webhook) jobs.push(this.toWebhook(agent, type, notification));
    for (const job of jobs) {
      const p = job.catch((e) => this.o.log.error('revocation delivery crashed', { agent: agent.agent_id, error: (e as Error).message }));
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  /** Resolves when every notification sent so far has been delivered or given up. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Waits up to `drainMs` for deliveries in progress, then drops the rest. */
  async close(drainMs = 10_000): Promise<void> {
    await withTimeout(this.settled(), drainMs);
    await this.webhook?.destroy();
    this.webhook = undefined;
  }

  private async toAgents(failing: Readonly<VerifierAgent>, type: NotificationType, n: RevocationNotification): Promise<void> {
    const recipients = this.o.store
      .all()
      .filter((a) => a.verifier_id === this.o.verifierId && a.agent_id !== failing.agent_id && a.operational_state !== State.TERMINATED && a.mtls_cert);
    await Promise.all(
      recipients.map(async (a) => {
        let reply: AgentReply = await this.o.api.postRevocation(a, a.supported_version, n);
        if (reply.status === 400 && reply.message.includes('API version not supported')) {
          const v = await this.o.api.getVersion(a);
          const remote = v.results?.supported_versions ?? v.results?.supported_version;
          const version = v.status === 200 && remote !== undefined ? negotiateVersion(remote as string[] | string, this.o.agentVersions) : undefined;
          if (version) reply = await this.o.api.postRevocation(a, version, n);
        }
        const ok = reply.status === 200;
        this.o.metrics.notifications.inc({ type, target: 'agent', outcome: ok ? 'delivered' : 'failed' });
        const fields = { about: failing.agent_id, to: a.agent_id, status: reply.status };
        if (ok) this.o.log.info('revocation notification delivered to agent', fields);
        else this.o.log.warn('revocation notification to agent failed', { ...fields, reason: reply.message });
      }),
    );
  }

  private async toWebhook(failing: Readonly<VerifierAgent>, type: NotificationType, n: RevocationNotification): Promise<void> {
    const sleep = this.o.sleep ?? realSleep;
    const attempts = this.o.retry.maxRetries + 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let status = 0;
      let reason = '';
      try {
        const r = await this.webhook!.post(this.webhookPath, n);
        status = r.status;
        reason = r.body?.status ?? r.text.slice(0, 200);
      } catch (e) {
        reason = (e as Error).message;
      }
      const fields = { about: failing.agent_id, url: this.o.webhookUrl, attempt, of: attempts, status };
      if (status === 200 || status === 202) {
        this.o.log.info('revocation notification delivered to webhook', fields);
        this.o.metrics.notifications.inc({ type, target: 'webhook', outcome: 'delivered' });
        return;
      }
      this.o.log.warn('revocation webhook attempt failed', { ...fields, reason });
      if (attempt < attempts) await sleep(retryDelaySeconds(this.o.retry, attempt) * 1000);
    }
    this.o.metrics.notifications.inc({ type, target: 'webhook', outcome: 'failed' });
  }
}
