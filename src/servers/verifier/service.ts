import { invalidInput, isKeylimeError, notFound } from '../../errors.js';
import type { Logger } from '../../log.js';
import { describeEvent } from '../../quote/events.js';
import { verifyQuote } from '../../quote/verify.js';
import type { Clock } from './clock.js';
import { admitEvidence, hasMbPolicy, hasRuntimePolicy, type EvidenceContext, type EvidenceEvaluator } from './evidence.js';
import type { AttestationMachine } from './machine.js';
import type { MetricsSnapshot, VerifierMetrics } from './metrics.js';
import { statusView, type AgentStatus, type MbPolicyRecord, type RuntimePolicyRecord, type VerifierAgent } from './record.js';
import { APPROVED_REACTIVATE_STATES, DELETE_NOW_STATES, STATE_NAMES, State } from './states.js';
import type { VerifierStore } from './store.js';
import { checkAgentId, checkPolicyName, checkTpmPolicyText, conflict, parseEnrollment, requireBody, runtimePolicyRecord, type PolicyChoice } from './validate.js';

export interface VerifierServiceConfig {
  verifierId: string;
  /** Where tenants reach this verifier (returned in agent status, used for delete/reactivate). */
  verifierIp: string;
  verifierPort: number;
  quoteIntervalSeconds: number;
}

export interface VerifierDeps {
  store: VerifierStore;
  machine: AttestationMachine;
  evaluators: readonly EvidenceEvaluator[];
  metrics: VerifierMetrics;
  clock: Clock;
  log: Logger;
  config: VerifierServiceConfig;
}

/** Serialises changes per key so two requests about one agent or policy never interleave. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

const agentLock = new KeyedLock();
const policyLock = new KeyedLock();

function evidenceContext(store: VerifierStore, agent: Readonly<VerifierAgent>): EvidenceContext {
  return {
    agent,
    runtimePolicy: agent.runtime_policy_name ? store.runtimePolicy(agent.runtime_policy_name) : undefined,
    mbPolicy: agent.mb_policy_name ? store.mbPolicy(agent.mb_policy_name) : undefined,
  };
}

function agentStatus(deps: VerifierDeps, agent: Readonly<VerifierAgent>): AgentStatus {
  const ctx = evidenceContext(deps.store, agent);
  return statusView(agent as VerifierAgent, {
    quoteIntervalSeconds: deps.config.quoteIntervalSeconds,
    hasRuntimePolicy: hasRuntimePolicy(ctx),
    hasMbPolicy: hasMbPolicy(ctx),
  });
}

function resolvePolicy<R extends { name: string }>(
  choice: PolicyChoice<R>,
  lookup: (name: string) => Readonly<R> | undefined,
  usedByOthers: (name: string) => string | undefined,
  messages: { exists: (n: string) => string; missing: (n: string) => string },
): { record: Readonly<R> | undefined; write: R | undefined } {
  if (choice.kind === 'none') return { record: undefined, write: undefined };
  if (choice.kind === 'named') {
    const found = lookup(choice.name);
    if (!found) throw notFound(messages.missing(choice.name));
    return { record: found, write: undefined };
  }
  const name = choice.record.name;
  if (lookup(name) && (!choice.perAgent || usedByOthers(name))) throw conflict(messages.exists(name));
  return { record: choice.record, write: choice.record };
}

/** POST /agents/{id} (§7.2): stored before the answer; polling starts at once. */
export async function addAgent(deps: VerifierDeps, rawId: string, body: unknown): Promise<void> {
  const { record, runtime, mb } = parseEnrollment(rawId, body, {
    verifierId: deps.config.verifierId,
    verifierIp: deps.config.verifierIp,
    verifierPort: deps.config.verifierPort,
  });
  const id = record.agent_id;
  await agentLock.run(id, () =>
    policyLock.run('*', async () => {
      if (deps.store.get(id)) throw conflict(`Agent of uuid ${id} already exists. Please use delete or update.`);
      const user = (field: 'runtime_policy_name' | 'mb_policy_name') => (name: string) => deps.store.all().find((a) => a[field] === name)?.agent_id;
      const rt = resolvePolicy(runtime, (n) => deps.store.runtimePolicy(n), user('runtime_policy_name'), {
        exists: (n) => `IMA policy with name ${n} already exists. Please use a different name or delete the allowlist from the verifier.`,
        missing: (n) => `Could not find IMA policy with name ${n}!`,
      });
      const mbp = resolvePolicy(mb, (n) => deps.store.mbPolicy(n), user('mb_policy_name'), {
        exists: (n) => `MB policy with name ${n} already exists. Please use a different name or delete the MB policy from the verifier.`,
        missing: (n) => `Could not find MB policy with name ${n}!`,
      });
      admitEvidence({ agent: record, runtimePolicy: rt.record, mbPolicy: mbp.record }, deps.evaluators);
      if (rt.write) await deps.store.putRuntimePolicy(rt.write);
      if (mbp.write) await deps.store.putMbPolicy(mbp.write);
      await deps.store.put(record);
    }),
  );
  deps.log.info('agent added', { agent: id, ip: record.ip, port: record.port, api: record.supported_version, mask: JSON.parse(record.tpm_policy).mask ?? null });
  deps.machine.start(id);
}

export function getAgent(deps: VerifierDeps, rawId: string): AgentStatus {
  const id = checkAgentId(rawId);
  const agent = deps.store.get(id);
  if (!agent) throw notFound('agent id not found');
  return agentStatus(deps, agent);
}

/** GET /agents/ → {"uuids": [[id], ...]} (Keylime's serialised rows); with bulk, {id: status}. */
export function listAgents(deps: VerifierDeps, query: { bulk?: string; verifier?: string }): Record<string, unknown> {
  const agents = deps.store.all().filter((a) => !query.verifier || a.verifier_id === query.verifier);
  if (query.bulk !== undefined) return Object.fromEntries(agents.map((a) => [a.agent_id, agentStatus(deps, a)]));
  return { uuids: agents.map((a) => [a.agent_id]) };
}

function ownAgent(deps: VerifierDeps, rawId: string): Readonly<VerifierAgent> {
  const id = checkAgentId(rawId);
  const agent = deps.store.get(id);
  if (!agent || agent.verifier_id !== deps.config.verifierId) throw invalidInput('Exception error: No row was found when one was required');
  return agent;
}

/**
 * DELETE /agents/{id} (§7.6): 200 when deleted now; 202 when a request to the agent is in
 * flight — the agent is marked TERMINATED and the polling loop deletes it when that
 * request returns (the tenant polls GET until 404).
 */
export async function deleteAgent(deps: VerifierDeps, rawId: string): Promise<200 | 202> {
  const id = checkAgentId(rawId);
  return agentLock.run(id, async () => {
    const agent = deps.store.get(id);
    if (!agent) throw notFound('agent id not found');
    if (agent.verifier_id !== deps.config.verifierId) throw notFound('agent id associated to this verifier');
    if (agent.operational_state === State.TERMINATED) return 202;
    if (!DELETE_NOW_STATES.has(agent.operational_state) && deps.machine.inFlight(id)) {
      await deps.store.patch(id, (a) => void (a.operational_state = State.TERMINATED));
      deps.log.info('agent marked for deletion (request in flight)', { agent: id });
      return 202;
    }
    await policyLock.run('*', () => deps.machine.finishDeletion(id));
    return 200;
  });
}

/** PUT /agents/{id}/reactivate: back to START, fresh quote with partial=0, V again. */
export async function reactivateAgent(deps: VerifierDeps, rawId: string): Promise<void> {
  const agent = ownAgent(deps, rawId);
  const id = agent.agent_id;
  await agentLock.run(id, async () => {
    admitEvidence(evidenceContext(deps.store, agent), deps.evaluators);
    deps.machine.halt(id);
    deps.machine.forgetCaches(id);
    // A reactivated agent starts clean: its next failure raises severity and notifies again.
    await deps.store.patch(id, (a) => {
      a.operational_state = State.START;
      a.severity_level = null;
      a.last_event_id = null;
    });
    deps.machine.start(id);
  });
  deps.log.info('agent reactivated', { agent: id });
}

/** PUT /agents/{id}/stop: TENANT_FAILED, polling stops, the record stays. */
export async function stopAgent(deps: VerifierDeps, rawId: string): Promise<void> {
  const agent = ownAgent(deps, rawId);
  await agentLock.run(agent.agent_id, async () => {
    deps.machine.halt(agent.agent_id);
    await deps.store.patch(agent.agent_id, (a) => void (a.operational_state = State.TENANT_FAILED));
  });
  deps.log.info('agent stopped by the tenant', { agent: agent.agent_id });
}

// ---------------------------------------------------------------- runtime policies

function agentsUsing(deps: VerifierDeps, field: 'runtime_policy_name' | 'mb_policy_name', name: string): Readonly<VerifierAgent>[] {
  return deps.store.all().filter((a) => a[field] === name);
}

function runtimePolicyFromBody(name: string, body: unknown): RuntimePolicyRecord {
  const b = requireBody(body);
  const b64 = b.runtime_policy;
  if (typeof b64 !== 'string' || b64 === '') throw invalidInput("Field 'runtime_policy' is required (base64 of the runtime policy JSON)");
  let text: string;
  try {
    text = Buffer.from(b64.replace(/\s/g, ''), 'base64').toString('utf8');
  } catch {
    throw invalidInput("Field 'runtime_policy' is not base64");
  }
  const tpmPolicy = b.tpm_policy === undefined || b.tpm_policy === null || b.tpm_policy === '' ? null : b.tpm_policy;
  if (tpmPolicy !== null) {
    if (typeof tpmPolicy !== 'string') throw invalidInput("Field 'tpm_policy' must be a JSON string");
    checkTpmPolicyText(tpmPolicy);
  }
  const key = b.runtime_policy_key;
  if (key !== undefined && key !== null && typeof key !== 'string') throw invalidInput("Field 'runtime_policy_key' must be a base64 string");
  return runtimePolicyRecord(name, text, { tpm_policy: tpmPolicy, runtime_policy_key: key ?? null });
}

/** An update must not turn a policy in use into one this verifier cannot evaluate. */
function admitForUsers(deps: VerifierDeps, field: 'runtime_policy_name' | 'mb_policy_name', name: string, runtime?: RuntimePolicyRecord, mb?: MbPolicyRecord): void {
  for (const agent of agentsUsing(deps, field, name)) {
    const ctx = evidenceContext(deps.store, agent);
    admitEvidence({ agent, runtimePolicy: runtime ?? ctx.runtimePolicy, mbPolicy: mb ?? ctx.mbPolicy }, deps.evaluators);
  }
}

export async function createRuntimePolicy(deps: VerifierDeps, rawName: string, body: unknown): Promise<void> {
  const name = checkPolicyName(rawName, 'runtime policy');
  const record = runtimePolicyFromBody(name, body);
  await policyLock.run('*', async () => {
    if (deps.store.runtimePolicy(name)) throw conflict(`Runtime policy with name ${name} already exists`);
    await deps.store.putRuntimePolicy(record);
  });
  deps.log.info('runtime policy stored', { name, generator: record.generator });
}

export async function updateRuntimePolicy(deps: VerifierDeps, rawName: string, body: unknown): Promise<void> {
  const name = checkPolicyName(rawName, 'runtime policy');
  const record = runtimePolicyFromBody(name, body);
  await policyLock.run('*', async () => {
    if (!deps.store.runtimePolicy(name)) throw notFound(`Runtime policy with name ${name} does not already exist, use POST to create`);
    admitForUsers(deps, 'runtime_policy_name', name, record);
    await deps.store.putRuntimePolicy(record);
  });
  deps.log.info('runtime policy updated', { name, generator: record.generator });
}

export function getRuntimePolicy(deps: VerifierDeps, rawName: string): Record<string, unknown> {
  const name = checkPolicyName(rawName, 'runtime policy');
  const p = deps.store.runtimePolicy(name);
  if (!p) throw notFound(`Runtime policy ${name} not found`);
  // HEAD answers `tmp_policy` (sic, always null); ≤7.11 tenants read `tpm_policy`.
  return { name: p.name, tmp_policy: null, tpm_policy: p.tpm_policy, runtime_policy: p.runtime_policy };
}

export function listRuntimePolicies(deps: VerifierDeps): Record<string, unknown> {
  return { 'runtimepolicy names': deps.store.runtimePolicyNames() };
}

export async function deleteRuntimePolicy(deps: VerifierDeps, rawName: string): Promise<void> {
  const name = checkPolicyName(rawName, 'runtime policy');
  await policyLock.run('*', async () => {
    if (!deps.store.runtimePolicy(name)) throw notFound(`Runtime policy ${name} not found`);
    const user = agentsUsing(deps, 'runtime_policy_name', name)[0];
    if (user) throw conflict(`Can't delete allowlist as it's currently in use by agent ${user.agent_id}`);
    await deps.store.deleteRuntimePolicy(name);
  });
}

// ---------------------------------------------------------------- measured-boot policies

function mbPolicyFromBody(name: string, body: unknown): MbPolicyRecord {
  const b = requireBody(body);
  if (!('mb_policy' in b)) throw invalidInput("Field 'mb_policy' is required (JSON text of the measured boot policy, or null)");
  const raw = b.mb_policy;
  if (raw === null) return { name, mb_policy: null };
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  try {
    JSON.parse(text);
  } catch (e) {
    throw invalidInput(`Field 'mb_policy' is not valid JSON: ${(e as Error).message}`);
  }
  return { name, mb_policy: text };
}

export async function createMbPolicy(deps: VerifierDeps, rawName: string, body: unknown): Promise<void> {
  const name = checkPolicyName(rawName, 'measured boot policy');
  const record = mbPolicyFromBody(name, body);
  await policyLock.run('*', async () => {
    if (deps.store.mbPolicy(name)) throw conflict(`MB policy with name ${name} already exists`);
    await deps.store.putMbPolicy(record);
  });
}

export async function updateMbPolicy(deps: VerifierDeps, rawName: string, body: unknown): Promise<void> {
  const name = checkPolicyName(rawName, 'measured boot policy');
  const record = mbPolicyFromBody(name, body);
  await policyLock.run('*', async () => {
    if (!deps.store.mbPolicy(name)) throw notFound(`MB policy with name ${name} does not already exist, use POST to create`);
    admitForUsers(deps, 'mb_policy_name', name, undefined, record);
    await deps.store.putMbPolicy(record);
  });
}

export function getMbPolicy(deps: VerifierDeps, rawName: string): Record<string, unknown> {
  const name = checkPolicyName(rawName, 'measured boot policy');
  const p = deps.store.mbPolicy(name);
  if (!p) throw notFound(`MB policy ${name} not found`);
  return { name: p.name, mb_policy: p.mb_policy };
}

export function listMbPolicies(deps: VerifierDeps): Record<string, unknown> {
  return { 'mbpolicy names': deps.store.mbPolicyNames() };
}

export async function deleteMbPolicy(deps: VerifierDeps, rawName: string): Promise<void> {
  const name = checkPolicyName(rawName, 'measured boot policy');
  await policyLock.run('*', async () => {
    if (!deps.store.mbPolicy(name)) throw notFound(`MB policy ${name} not found`);
    const user = agentsUsing(deps, 'mb_policy_name', name)[0];
    if (user) throw conflict(`Can't delete mb policy as it's currently in use by agent ${user.agent_id}`);
    await deps.store.deleteMbPolicy(name);
  });
}

// ---------------------------------------------------------------- one-shot checks, metrics

/**
 * GET /verify/identity (2.2+): the AK signature, nonce and PCR digest of a quote, against
 * the stored ak_tpm; no clock, PCR 16 or policy checks.
 */
export function verifyIdentity(deps: VerifierDeps, query: Record<string, string | undefined>): { valid: 0 | 1; reason?: string } {
  for (const p of ['agent_uuid', 'quote', 'nonce', 'hash_alg']) {
    if (!query[p]) throw invalidInput(`missing query parameter '${p}'`);
  }
  const id = checkAgentId(query.agent_uuid!);
  const agent = deps.store.get(id);
  if (!agent) throw notFound('agent id not found');
  try {
    const verdict = verifyQuote({ quote: query.quote!, ak: agent.ak_tpm, nonce: query.nonce!, hashAlg: query.hash_alg!, skipClockCheck: true, skipPcrChecks: true });
    if (verdict.valid) return { valid: 1 };
    return { valid: 0, reason: verdict.failures.map(describeEvent).join('; ') };
  } catch (e) {
    if (isKeylimeError(e)) return { valid: 0, reason: e.message };
    throw e;
  }
}

export function metricsSnapshot(deps: VerifierDeps): MetricsSnapshot {
  const mine = deps.store.all().filter((a) => a.verifier_id === deps.config.verifierId);
  const counts = new Map<number, number>();
  for (const a of mine) counts.set(a.operational_state, (counts.get(a.operational_state) ?? 0) + 1);
  const nowSec = deps.clock.now() / 1000;
  return {
    agentsByState: Object.entries(STATE_NAMES).map(([n, name]) => ({ labels: { state: n, state_name: name }, value: counts.get(Number(n)) ?? 0 })),
    lastAttestationAge: mine
      .filter((a) => APPROVED_REACTIVATE_STATES.has(a.operational_state) && a.last_successful_attestation > 0)
      .map((a) => ({ labels: { agent_id: a.agent_id }, value: Math.max(0, Math.round(nowSec - a.last_successful_attestation)) })),
  };
}

