import { retryDelaySeconds, type RetryPolicy } from '../../client/retry.js';
import type { Logger } from '../../log.js';
import { resolveAk } from '../../quote/verify.js';
import type { SigningKey } from '../../quote/public.js';
import { parseTpmPolicy, type TpmPolicy } from '../../quote/tpm-policy.js';
import { compareVersions, negotiateVersion } from '../http/versions.js';
import { UNREACHABLE_STATUS, type AgentApi, type AgentReply } from './agent-client.js';
import type { Clock } from './clock.js';
import { INTERNAL_EVENT, messageEvent, type AttestationEvent } from './events.js';
import { admitEvidence, type EvidenceContext, type EvidenceEvaluator } from './evidence.js';
import type { VerifierMetrics } from './metrics.js';
import type { VerifierAgent } from './record.js';
import type { RevocationSink } from './revocation.js';
import { checkIntegrityRound } from './round.js';
import { PollScheduler } from './scheduler.js';
import type { Failure, SeverityPolicy } from './severity.js';
import { APPROVED_REACTIVATE_STATES, State, stateName } from './states.js';
import type { VerifierStore } from './store.js';
import { withTimeout } from './timeout.js';
import { VKeyCache } from './vkey.js';

/** What the scheduler runs for an agent: a quote request or the V delivery. */
export type PollTask = { kind: 'quote'; partial: 0 | 1 } | { kind: 'vkey' };

export interface MachineConfig {
  verifierId: string;
  /** Keylime quote_interval, in milliseconds (0: back to back). */
  quoteIntervalMs: number;
  /** retry_interval, max_retries, exponential_backoff. */
  retry: RetryPolicy;
  /** Agent API versions this verifier can speak, for renegotiation. */
  agentVersions: readonly string[];
  /** Agents polled at the same time, at most. */
  concurrency: number;
}

export interface MachineDeps {
  store: VerifierStore;
  api: AgentApi;
  clock: Clock;
  /** 20 random [A-Za-z0-9] characters per quote (the agent id lets tests and benches be deterministic). */
  nonce: (agentId: string) => string;
  severity: SeverityPolicy;
  evaluators: readonly EvidenceEvaluator[];
  revocation: RevocationSink;
  metrics: VerifierMetrics;
  log: Logger;
  config: MachineConfig;
}

/** In-memory state of one agent's polling loop; a new object each time the loop (re)starts. */
interface Loop {
  retries: number;
  /** Deliver V after the next good quote (Keylime's provide_V). */
  provideV: boolean;
}

const RETRY_STATUSES = new Set([408, 500, UNREACHABLE_STATUS]);
const VERSION_ERROR = 'API version not supported';

const seconds = (ms: number) => Math.floor(ms / 1000);


/**
 * The pull-mode attestation state machine of spec §7.5, one loop per agent driven by a
 * shared scheduler. Lifecycle changes (state, severity, NK, algorithms, API version) are
 * written through before the machine moves on; counters are in-memory touches flushed by
 * the store. Everything it needs — store, agent API, clock, nonces — is injected, so the
 * whole machine runs in tests without sockets or sleeping.
 */
export class AttestationMachine {
  readonly scheduler: PollScheduler<PollTask>;
  private readonly loops = new Map<string, Loop>();
  private readonly vkeys = new VKeyCache();
  private readonly aks = new Map<string, { text: string; key: SigningKey }>();
  private readonly policies = new Map<string, { text: string; policy: TpmPolicy }>();

  constructor(private readonly d: MachineDeps) {
    this.scheduler = new PollScheduler<PollTask>(d.clock, d.config.concurrency, (id, task) => this.run(id, task), (id, e) =>
      d.log.error('polling step crashed', { agent: id, error: (e as Error)?.message ?? String(e) }),
    );
  }

  /** Starts (or restarts) polling: fresh quote with partial=0, then V delivery. */
  start(id: string): void {
    this.loops.set(id, { retries: 0, provideV: true });
    this.scheduler.schedule(id, 0, { kind: 'quote', partial: 0 });
  }

  isPolling(id: string): boolean {
    return this.loops.has(id);
  }

  /** Stops the loop without touching the store (stop, failure, shutdown). */
  halt(id: string): void {
    this.loops.delete(id);
    this.scheduler.cancel(id);
  }

  /** True when a request to the agent is in flight right now. */
  inFlight(id: string): boolean {
    return this.scheduler.isRunning(id);
  }

  /** Verifier start: every agent of this verifier in {1,3,4,5,6} goes back to START and polls again. */
  async resumeAll(): Promise<string[]> {
    const ids = this.d.store
      .all()
      .filter((a) => a.verifier_id === this.d.config.verifierId && APPROVED_REACTIVATE_STATES.has(a.operational_state))
      .map((a) => a.agent_id);
    await this.d.store.patchMany(ids, (a) => void (a.operational_state = State.START));
    for (const id of ids) this.start(id);
    return ids;
  }

  /** Deletes the agent and the policies named after it (Keylime's per-agent policies). */
  async finishDeletion(id: string): Promise<void> {
    this.halt(id);
    this.forgetCaches(id);
    await this.d.api.forget(id);
    const agent = this.d.store.get(id);
    await this.d.store.delete(id);
    if (!agent) return;
    const stillUsed = (field: 'runtime_policy_name' | 'mb_policy_name') => this.d.store.all().some((a) => a[field] === id);
    if (agent.runtime_policy_name === id && !stillUsed('runtime_policy_name')) await this.d.store.deleteRuntimePolicy(id);
    if (agent.mb_policy_name === id && !stillUsed('mb_policy_name')) await this.d.store.deleteMbPolicy(id);
    this.d.log.info('agent deleted', { agent: id });
  }

  forgetCaches(id: string): void {
    this.vkeys.forget(id);
    this.aks.delete(id);
    this.policies.delete(id);
  }

  /**
   * Stops polling. Steps in flight may finish for up to `drainMs` (Keylime's
   * shutdown_drain_timeout); their answers are then discarded, nothing is half-written.
   */
  async close(drainMs = 10_000): Promise<void> {
    this.loops.clear();
    await withTimeout(this.scheduler.close(), drainMs);
  }

  /** One scheduled step; the scheduler never runs two for the same agent at once. */
  private async run(id: string, task: PollTask): Promise<void> {
    const loop = this.loops.get(id);
    if (!loop || !(await this.stillMine(id, loop))) return;
    try {
      if (task.kind === 'quote') await this.quote(id, loop, task.partial);
      else await this.deliverV(id, loop);
    } catch (e) {
      this.d.log.error('attestation step failed', { agent: id, error: (e as Error)?.message ?? String(e) });
      if (this.current(id, loop)) await this.failInternal(id, loop, INTERNAL_EVENT.exception, `Unexpected exception: ${(e as Error)?.message ?? String(e)}`);
    }
    // A DELETE that arrived while this step ran is finished here, not a quote interval later.
    if (this.d.store.get(id)?.operational_state === State.TERMINATED) await this.finishDeletion(id);
  }

  private current(id: string, loop: Loop): boolean {
    return this.loops.get(id) === loop;
  }

  /**
   * Re-reads the agent (§7.5 "on entry"): gone ⇒ stop; TERMINATED ⇒ finish the deletion;
   * TENANT_FAILED (stopped) ⇒ stop; a newer loop (reactivated meanwhile) ⇒ this one ends.
   */
  private async stillMine(id: string, loop: Loop): Promise<boolean> {
    const agent = this.d.store.get(id);
    if (!agent) {
      if (this.current(id, loop)) this.halt(id);
      return false;
    }
    if (agent.operational_state === State.TERMINATED) {
      await this.finishDeletion(id);
      return false;
    }
    if (agent.operational_state === State.TENANT_FAILED) {
      if (this.current(id, loop)) this.halt(id);
      return false;
    }
    return this.current(id, loop);
  }

  private ak(agent: Readonly<VerifierAgent>): SigningKey {
    const hit = this.aks.get(agent.agent_id);
    if (hit && hit.text === agent.ak_tpm) return hit.key;
    const key = resolveAk(agent.ak_tpm);
    this.aks.set(agent.agent_id, { text: agent.ak_tpm, key });
    return key;
  }

  private tpmPolicy(agent: Readonly<VerifierAgent>): TpmPolicy {
    const hit = this.policies.get(agent.agent_id);
    if (hit && hit.text === agent.tpm_policy) return hit.policy;
    const policy = parseTpmPolicy(agent.tpm_policy);
    this.policies.set(agent.agent_id, { text: agent.tpm_policy, policy });
    return policy;
  }

  private evidenceContext(agent: Readonly<VerifierAgent>): EvidenceContext {
    return {
      agent,
      runtimePolicy: agent.runtime_policy_name ? this.d.store.runtimePolicy(agent.runtime_policy_name) : undefined,
      mbPolicy: agent.mb_policy_name ? this.d.store.mbPolicy(agent.mb_policy_name) : undefined,
    };
  }

  private async setState(id: string, state: number): Promise<void> {
    if (this.d.store.get(id)?.operational_state === state) return;
    await this.d.store.patch(id, (a) => void (a.operational_state = state));
  }

  private async quote(id: string, loop: Loop, partial: 0 | 1): Promise<void> {
    let agent = this.d.store.get(id)!;
    if (agent.operational_state === State.START) await this.setState(id, State.GET_QUOTE);
    const evidence = this.evidenceContext(agent);
    // A policy changed under the agent into one nothing here can check: stop, never pass it unchecked.
    admitEvidence(evidence, this.d.evaluators);
    const evaluators = this.d.evaluators.filter((e) => e.required(evidence));
    const ima = evaluators.find((e) => e.nextImaEntry);
    const policy = this.tpmPolicy(agent);
    const nonce = this.d.nonce(id);
    const started = this.d.clock.now();
    const reply = await this.d.api.getIntegrityQuote(agent, agent.supported_version, {
      nonce,
      mask: policy.mask ?? '0x0',
      partial,
      imaMlEntry: ima?.nextImaEntry?.(agent.evidence_state[ima.name]) ?? 0,
    });
    const finished = this.d.clock.now();
    this.d.metrics.pollSeconds.observe((finished - started) / 1000);
    if (!(await this.stillMine(id, loop))) {
      this.d.metrics.polls.inc({ outcome: 'discarded' });
      return;
    }
    agent = this.d.store.get(id)!;

    if (RETRY_STATUSES.has(reply.status)) {
      this.d.metrics.polls.inc({ outcome: 'unreachable' });
      return this.retryQuote(id, loop, reply);
    }
    if (reply.status !== 200) this.d.metrics.polls.inc({ outcome: 'error' });
    if (reply.status === 400 && reply.message.includes(VERSION_ERROR)) return this.renegotiate(id, loop, { kind: 'quote', partial: 0 });
    if (reply.status !== 200) {
      return this.failInternal(id, loop, INTERNAL_EVENT.noQuote, `agent answered the quote request with HTTP ${reply.status}: ${reply.message}`);
    }

    this.d.store.touch(id, (a) => void (a.last_received_quote = seconds(finished)));
    let round;
    try {
      round = await checkIntegrityRound({ evidence: { ...evidence, agent }, nonce, results: reply.results, ak: this.ak(agent), tpmPolicy: policy, evaluators });
    } catch (e) {
      this.d.metrics.polls.inc({ outcome: 'error' });
      throw e;
    }
    if (!(await this.stillMine(id, loop))) {
      this.d.metrics.polls.inc({ outcome: 'discarded' });
      return;
    }
    if (round.events.length > 0) {
      this.d.metrics.polls.inc({ outcome: 'fail' });
      return this.fail(id, loop, round.events, State.INVALID_QUOTE);
    }
    this.d.metrics.polls.inc({ outcome: 'pass' });
    this.d.metrics.attestations.inc();
    loop.retries = 0;

    const r = round.response!;
    const nkChanged = round.nkPem !== agent.public_key;
    const lifecycleChanged =
      nkChanged || r.hashAlg !== agent.hash_alg || r.encAlg !== agent.enc_alg || r.signAlg !== agent.sign_alg || agent.operational_state !== State.GET_QUOTE;
    if (nkChanged) {
      this.vkeys.forget(id);
      loop.provideV = true;
    } else if (r.pubkey === undefined) {
      loop.provideV = false;
    }
    const deliverV = loop.provideV && agent.v !== null;
    const update = (a: VerifierAgent) => {
      a.attestation_count += 1;
      a.last_successful_attestation = seconds(finished);
      if (round.clock) a.tpm_clockinfo = { ...round.clock };
      if (round.evidenceState) a.evidence_state = round.evidenceState;
      a.public_key = round.nkPem!;
      a.hash_alg = r.hashAlg;
      a.enc_alg = r.encAlg;
      a.sign_alg = r.signAlg;
      a.operational_state = deliverV ? State.PROVIDE_V : State.GET_QUOTE;
    };
    if (lifecycleChanged || deliverV) await this.d.store.patch(id, update);
    else this.d.store.touch(id, update);

    if (deliverV) {
      this.scheduler.schedule(id, 0, { kind: 'vkey' });
    } else {
      // Keep the cadence from the start of this poll; after an answer slower than the
      // interval, wait a whole interval (as Keylime does) rather than poll back to back.
      const due = started + this.d.config.quoteIntervalMs - this.d.clock.now();
      this.scheduler.schedule(id, due > 0 ? due : this.d.config.quoteIntervalMs, { kind: 'quote', partial: 1 });
    }
  }

  private async deliverV(id: string, loop: Loop): Promise<void> {
    const agent = this.d.store.get(id)!;
    if (!agent.v || !agent.public_key) {
      await this.setState(id, State.GET_QUOTE);
      this.scheduler.schedule(id, 0, { kind: 'quote', partial: 0 });
      return;
    }
    const encrypted = this.vkeys.encrypted(id, agent.public_key, agent.v);
    const reply = await this.d.api.postVKey(agent, agent.supported_version, encrypted);
    if (!(await this.stillMine(id, loop))) return;
    if (RETRY_STATUSES.has(reply.status)) return this.retryV(id, loop, reply);
    if (reply.status === 400 && reply.message.includes(VERSION_ERROR)) return this.renegotiate(id, loop, { kind: 'vkey' });
    if (reply.status !== 200) return this.failInternal(id, loop, INTERNAL_EVENT.noV, `agent answered the V delivery with HTTP ${reply.status}: ${reply.message}`);
    this.d.metrics.vDeliveries.inc();
    this.d.log.info('V delivered', { agent: id });
    loop.retries = 0;
    // Delivered: only a new NK or a restarted loop sends it again, even to an agent that ignores partial=1.
    loop.provideV = false;
    await this.setState(id, State.GET_QUOTE);
    this.scheduler.schedule(id, this.d.config.quoteIntervalMs, { kind: 'quote', partial: 1 });
  }

  private async retryQuote(id: string, loop: Loop, reply: AgentReply): Promise<void> {
    const agent = this.d.store.get(id)!;
    if (loop.retries >= this.d.config.retry.maxRetries) {
      this.d.log.warn('agent not reachable, retries exhausted', { agent: id, retries: loop.retries, reason: reply.message });
      const failure = this.d.severity.failure([messageEvent(INTERNAL_EVENT.notReachable, 'agent was not reachable from verifier', false)])!;
      if (agent.attestation_count > 0) this.d.revocation.notify(agent, 'comm_error', failure.highest);
      return this.applyFailure(id, loop, failure, State.FAILED);
    }
    loop.retries++;
    const delay = retryDelaySeconds(this.d.config.retry, loop.retries) * 1000;
    this.d.log.info('agent not reachable, will retry', { agent: id, retry: loop.retries, of: this.d.config.retry.maxRetries, in_ms: delay, reason: reply.message });
    await this.setState(id, State.GET_QUOTE_RETRY);
    this.scheduler.schedule(id, delay, { kind: 'quote', partial: 0 });
  }

  private async retryV(id: string, loop: Loop, reply: AgentReply): Promise<void> {
    const agent = this.d.store.get(id)!;
    if (loop.retries >= this.d.config.retry.maxRetries) {
      this.d.log.warn('V could not be delivered, retries exhausted', { agent: id, reason: reply.message });
      const failure = this.d.severity.failure([messageEvent(INTERNAL_EVENT.notReachableV, 'agent was not reachable to provide V', false)])!;
      this.d.revocation.notify(agent, 'comm_error', failure.highest);
      return this.applyFailure(id, loop, failure, State.FAILED);
    }
    loop.retries++;
    const delay = retryDelaySeconds(this.d.config.retry, loop.retries) * 1000;
    this.d.log.info('V delivery failed, will retry', { agent: id, retry: loop.retries, in_ms: delay, reason: reply.message });
    await this.setState(id, State.PROVIDE_V_RETRY);
    this.scheduler.schedule(id, delay, { kind: 'vkey' });
  }

  /** §1.2: ask the agent's /version, move to the best common version, retry at once. */
  private async renegotiate(id: string, loop: Loop, retry: PollTask): Promise<void> {
    const agent = this.d.store.get(id)!;
    const reply = await this.d.api.getVersion(agent);
    if (!(await this.stillMine(id, loop))) return;
    const remote = reply.results?.supported_versions ?? reply.results?.supported_version;
    const valid = reply.status === 200 && (typeof remote === 'string' || (Array.isArray(remote) && remote.every((v) => typeof v === 'string')));
    const version = valid ? negotiateVersion(remote as string | string[], this.d.config.agentVersions) : undefined;
    const current = agent.supported_version;
    // No common version, the same one again (it was just refused), or a downgrade after attestations succeeded.
    if (!version || version === current || (compareVersions(version, current) < 0 && agent.attestation_count > 0)) {
      return this.failInternal(id, loop, INTERNAL_EVENT.versionNotSupported, `agent does not support API ${current} and offers no acceptable alternative (${JSON.stringify(remote ?? null)})`);
    }
    this.d.log.info('agent API version renegotiated', { agent: id, from: current, to: version });
    await this.d.store.patch(id, (a) => {
      a.supported_version = version;
      a.operational_state = retry.kind === 'vkey' ? State.PROVIDE_V_RETRY : State.GET_QUOTE_RETRY;
    });
    this.scheduler.schedule(id, 0, retry);
  }

  private failInternal(id: string, loop: Loop, eventId: string, message: string): Promise<void> {
    this.d.log.warn('attestation stopped', { agent: id, event: eventId, reason: message });
    return this.applyFailure(id, loop, this.d.severity.failure([messageEvent(eventId, message, false)])!, State.FAILED);
  }

  private fail(id: string, loop: Loop, events: AttestationEvent[], state: number): Promise<void> {
    return this.applyFailure(id, loop, this.d.severity.failure(events)!, state);
  }

  /**
   * §7.5 failure handling: raise the stored severity (and notify on INVALID_QUOTE when it
   * rises); stop polling on an irrecoverable or maximum-severity failure, else keep polling
   * at the normal interval (Keylime re-polls at once and then trips over its own state;
   * we neither hammer the agent nor fail it for recovering).
   */
  private async applyFailure(id: string, loop: Loop, failure: Failure, state: number): Promise<void> {
    const agent = this.d.store.get(id)!;
    for (const e of failure.events) this.d.metrics.failures.inc({ event_id: e.eventId });
    const raised = agent.severity_level === null || agent.severity_level < failure.highest.severityLevel;
    const terminal = !failure.recoverable || failure.highest.severityLevel >= this.d.severity.maxLevel;
    await this.d.store.patch(id, (a) => {
      a.operational_state = state;
      if (raised) {
        a.severity_level = failure.highest.severityLevel;
        a.last_event_id = failure.highest.eventId;
      }
    });
    this.d.log.warn(`agent ${stateName(state)}`, {
      agent: id,
      event: failure.highest.eventId,
      severity: failure.highest.severityLabel,
      events: failure.events.map((e) => e.eventId),
      polling: terminal ? 'stopped' : 'continues',
    });
    if (raised && state === State.INVALID_QUOTE) this.d.revocation.notify(this.d.store.get(id)!, 'revocation', failure.highest);
    if (terminal) {
      if (this.current(id, loop)) this.halt(id);
      return;
    }
    loop.retries = 0;
    // Without a cached NK (the first quote failed) the next quote must carry the key again.
    const partial = this.d.store.get(id)?.public_key ? 1 : 0;
    this.scheduler.schedule(id, this.d.config.quoteIntervalMs, { kind: 'quote', partial });
  }
}

