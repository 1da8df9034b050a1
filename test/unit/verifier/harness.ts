/**
 * The verifier's state machine wired to a real store (temp dir), a manual clock and
 * software agents behind a fake AgentApi: the whole polling logic without sockets or sleeps.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UNREACHABLE_STATUS, type AgentAddress, type AgentApi, type AgentReply, type QuoteParams } from '../../../src/servers/verifier/agent-client.js';
import { ManualClock } from '../../../src/servers/verifier/clock.js';
import type { EvidenceEvaluator } from '../../../src/servers/verifier/evidence.js';
import { AttestationMachine } from '../../../src/servers/verifier/machine.js';
import { VerifierMetrics } from '../../../src/servers/verifier/metrics.js';
import type { VerifierAgent } from '../../../src/servers/verifier/record.js';
import type { NotificationType, RevocationSink } from '../../../src/servers/verifier/revocation.js';
import { addAgent, type VerifierDeps } from '../../../src/servers/verifier/service.js';
import { SeverityPolicy, type RankedEvent } from '../../../src/servers/verifier/severity.js';
import { VerifierStore } from '../../../src/servers/verifier/store.js';
import { SERVER_API_VERSIONS } from '../../../src/servers/http/versions.js';
import { silentLogger } from '../../../src/log.js';
import { makeTestPki } from '../../support/certs.js';
import { SoftAgent } from '../../support/soft-agent.js';

export const PKI = makeTestPki('verifier-unit');

export interface Call {
  agent: string;
  kind: 'quote' | 'vkey' | 'version' | 'revocation';
  version?: string;
  params?: QuoteParams;
  at: number;
  body?: unknown;
}

/** Agents answer from SoftAgent; tests switch them off, hold their answers or override them. */
export class FakeAgentApi implements AgentApi {
  readonly agents = new Map<string, SoftAgent>();
  readonly down = new Set<string>();
  readonly calls: Call[] = [];
  /** API versions each agent serves (default: all of the verifier's). */
  readonly versions = new Map<string, string[]>();
  /** A test-provided answer replaces the normal one when it returns a reply. */
  override: ((agentId: string, kind: Call['kind'], version: string | undefined) => AgentReply | undefined) | undefined;
  private readonly gates = new Map<string, Promise<void>>();
  /** Agents whose answers are held: the harness does not wait for them. */
  readonly held = new Set<string>();
  private inFlightNow = 0;
  maxInFlight = 0;

  constructor(private readonly clock: ManualClock) {}

  /** Holds the agent's next answers until the returned function is called. */
  hold(agentId: string): () => void {
    let release!: () => void;
    this.gates.set(agentId, new Promise<void>((r) => (release = r)));
    this.held.add(agentId);
    return () => {
      this.gates.delete(agentId);
      this.held.delete(agentId);
      release();
    };
  }

  private async answer(agent: AgentAddress, kind: Call['kind'], version: string | undefined, fn: (a: SoftAgent) => AgentReply, extra: Partial<Call> = {}): Promise<AgentReply> {
    this.calls.push({ agent: agent.agent_id, kind, version, at: this.clock.now(), ...extra });
    this.inFlightNow++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlightNow);
    try {
      const gate = this.gates.get(agent.agent_id);
      if (gate) await gate;
      const soft = this.agents.get(agent.agent_id);
      if (!soft || this.down.has(agent.agent_id)) return { status: UNREACHABLE_STATUS, message: 'connection refused', results: undefined };
      const o = this.override?.(agent.agent_id, kind, version);
      if (o) return o;
      const supported = this.versions.get(agent.agent_id);
      if (version && supported && !supported.includes(version)) return { status: 400, message: `API version not supported: v${version}`, results: {} };
      return fn(soft);
    } finally {
      this.inFlightNow--;
    }
  }

  getIntegrityQuote(agent: AgentAddress, version: string, params: QuoteParams): Promise<AgentReply> {
    return this.answer(agent, 'quote', version, (a) => ({ status: 200, message: 'Success', results: a.integrity(params) }), { params });
  }

  postVKey(agent: AgentAddress, version: string, encryptedKey: string): Promise<AgentReply> {
    return this.answer(agent, 'vkey', version, (a) => {
      a.receiveV(encryptedKey);
      return { status: 200, message: 'Success', results: {} };
    });
  }

  getVersion(agent: AgentAddress): Promise<AgentReply> {
    return this.answer(agent, 'version', undefined, () => {
      const list = this.versions.get(agent.agent_id) ?? [...SERVER_API_VERSIONS];
      return { status: 200, message: 'Success', results: { supported_version: list.at(-1), supported_versions: list } };
    });
  }

  postRevocation(agent: AgentAddress, version: string, notification: { msg: string; signature: string }): Promise<AgentReply> {
    return this.answer(agent, 'revocation', version, () => ({ status: 200, message: 'Success', results: {} }), { body: notification });
  }

  async forget(): Promise<void> {}
  async close(): Promise<void> {}

  callsOf(agentId: string, kind?: Call['kind']): Call[] {
    return this.calls.filter((c) => c.agent === agentId && (!kind || c.kind === kind));
  }
}

export class RecordingSink implements RevocationSink {
  readonly sent: { agent: string; type: NotificationType; event: RankedEvent | undefined; at: number }[] = [];
  constructor(private readonly clock: ManualClock) {}
  notify(agent: Readonly<VerifierAgent>, type: NotificationType, event?: RankedEvent): void {
    this.sent.push({ agent: agent.agent_id, type, event, at: this.clock.now() });
  }
}

export interface Harness {
  dir: string;
  store: VerifierStore;
  clock: ManualClock;
  api: FakeAgentApi;
  sink: RecordingSink;
  machine: AttestationMachine;
  deps: VerifierDeps;
  metrics: VerifierMetrics;
  nonces: string[];
  /** Advances the clock and lets every due step finish. */
  advance(ms: number): Promise<void>;
  settle(): Promise<void>;
  enroll(agent: SoftAgent, extra?: Record<string, unknown>): Promise<void>;
  agent(id: string): Readonly<VerifierAgent> | undefined;
}

export interface HarnessOptions {
  dir?: string;
  clock?: ManualClock;
  api?: FakeAgentApi;
  severity?: SeverityPolicy;
  concurrency?: number;
  quoteIntervalMs?: number;
  maxRetries?: number;
  evaluators?: EvidenceEvaluator[];
}

export const V = randomBytes(32).toString('base64');

export function enrollmentBody(agent: SoftAgent, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: V,
    cloudagent_ip: '127.0.0.1',
    cloudagent_port: 9002,
    verifier_ip: '127.0.0.1',
    verifier_port: 8881,
    tpm_policy: '{"mask": "0x0"}',
    runtime_policy: '',
    runtime_policy_name: null,
    runtime_policy_key: null,
    mb_policy: null,
    mb_policy_name: '',
    ima_sign_verification_keys: '',
    metadata: '{}',
    revocation_key: '',
    accept_tpm_hash_algs: ['sha512', 'sha384', 'sha256'],
    accept_tpm_encryption_algs: ['ecc', 'rsa'],
    accept_tpm_signing_algs: ['ecschnorr', 'rsassa'],
    ak_tpm: agent.akTpm,
    mtls_cert: PKI.serverCert,
    supported_version: '2.1',
    ...extra,
  };
}

export async function makeHarness(o: HarnessOptions = {}): Promise<Harness> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'kts-verifier-'));
  const store = await VerifierStore.open(dir);
  const clock = o.clock ?? new ManualClock();
  const api = o.api ?? new FakeAgentApi(clock);
  const sink = new RecordingSink(clock);
  const metrics = new VerifierMetrics();
  const nonces: string[] = [];
  let n = 0;
  const machine = new AttestationMachine({
    store,
    api,
    clock,
    nonce: () => {
      const nonce = `nonce${String(n++).padStart(15, '0')}`;
      nonces.push(nonce);
      return nonce;
    },
    severity: o.severity ?? new SeverityPolicy(),
    evaluators: o.evaluators ?? [],
    revocation: sink,
    metrics,
    log: silentLogger,
    config: {
      verifierId: 'default',
      quoteIntervalMs: o.quoteIntervalMs ?? 2000,
      retry: { retryInterval: 2, maxRetries: o.maxRetries ?? 5, exponentialBackoff: true },
      agentVersions: SERVER_API_VERSIONS,
      concurrency: o.concurrency ?? 8,
    },
  });
  const deps: VerifierDeps = {
    store,
    machine,
    evaluators: o.evaluators ?? [],
    metrics,
    clock,
    log: silentLogger,
    config: { verifierId: 'default', verifierIp: '127.0.0.1', verifierPort: 8881, quoteIntervalSeconds: (o.quoteIntervalMs ?? 2000) / 1000 },
  };
  const settle = () => machine.scheduler.idle(api.held);
  return {
    dir,
    store,
    clock,
    api,
    sink,
    machine,
    deps,
    metrics,
    nonces,
    settle,
    async advance(ms: number) {
      // Step in small increments so steps scheduled for "now" run before time moves on.
      const step = 100;
      for (let t = 0; t < ms; t += step) {
        clock.advance(Math.min(step, ms - t));
        await settle();
      }
    },
    async enroll(agent: SoftAgent, extra = {}) {
      api.agents.set(agent.id, agent);
      await addAgent(deps, agent.id, enrollmentBody(agent, extra));
      await settle();
    },
    agent: (id: string) => store.get(id),
  };
}
