import { expectStatus } from '../client/http.js';
import { realSleep } from '../client/retry.js';
import { KeylimeError, invalidInput } from '../errors.js';
import { stateName, State } from '../servers/verifier/states.js';
import type { TenantContext } from './context.js';

/** What an operator wants to know about one agent at the verifier. */
export interface AgentStatusSummary {
  agent_id: string;
  operational_state: number;
  state: string;
  attestation_status: string | undefined;
  attestation_count: number;
  last_successful_attestation: number | null;
  last_received_quote: number | null;
  last_event_id: string | null;
  severity_level: number | null;
  ip: string | null;
  port: number | null;
  verifier_id: string | null;
  /** Everything the verifier returned, as returned. */
  raw: Record<string, unknown>;
}

const FAILURE_STATES = new Set<number>([State.FAILED, State.INVALID_QUOTE, State.TENANT_FAILED]);

function checkId(agentId: string): string {
  if (!/^[\w.-]+$/.test(agentId)) throw invalidInput(`invalid agent id '${agentId}'`);
  return agentId;
}

function summarize(agentId: string, r: Record<string, unknown>): AgentStatusSummary {
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const state = Number(r.operational_state);
  return {
    agent_id: agentId,
    operational_state: state,
    state: stateName(state),
    attestation_status: typeof r.attestation_status === 'string' ? r.attestation_status : undefined,
    attestation_count: num(r.attestation_count) ?? 0,
    last_successful_attestation: num(r.last_successful_attestation),
    last_received_quote: num(r.last_received_quote),
    last_event_id: typeof r.last_event_id === 'string' ? r.last_event_id : null,
    severity_level: num(r.severity_level),
    ip: typeof r.ip === 'string' ? r.ip : null,
    port: num(r.port),
    verifier_id: typeof r.verifier_id === 'string' ? r.verifier_id : null,
    raw: r,
  };
}

/** Verifier status of one agent, or undefined when the verifier does not know it. */
export async function verifierStatus(ctx: TenantContext, agentId: string): Promise<AgentStatusSummary | undefined> {
  const r = await ctx.verifier.get<Record<string, unknown>>(await ctx.path(ctx.verifier, `/agents/${checkId(agentId)}`), { retry: true });
  if (r.status === 404) return undefined;
  return summarize(agentId, expectStatus(r, 200, `verifier status of '${agentId}'`).results);
}

/** Registrar record of one agent, or undefined when it is not registered (or not active). */
export async function registrarStatus(ctx: TenantContext, agentId: string): Promise<Record<string, unknown> | undefined> {
  const r = await ctx.registrar.get<Record<string, unknown>>(await ctx.path(ctx.registrar, `/agents/${checkId(agentId)}`), { retry: true });
  if (r.status === 404) return undefined;
  return expectStatus(r, 200, `registrar status of '${agentId}'`).results;
}

export async function agentStatus(ctx: TenantContext, agentId: string) {
  const [registrar, verifier] = await Promise.all([registrarStatus(ctx, agentId), verifierStatus(ctx, agentId)]);
  if (!registrar && !verifier) {
    throw new KeylimeError('not_found', `agent ${agentId} is known neither to the ${ctx.describe('registrar')} nor to the ${ctx.describe('verifier')}; see keylime-ts tenant reglist and list`);
  }
  return { agent_id: agentId, registrar: registrar ?? null, verifier: verifier ?? null };
}

/** Every agent of the verifier with its status (GET /agents/?bulk), optionally only one verifier id's. */
export async function listAgents(ctx: TenantContext, verifierId?: string): Promise<AgentStatusSummary[]> {
  const r = await ctx.verifier.get<Record<string, Record<string, unknown>>>(await ctx.path(ctx.verifier, '/agents/'), {
    query: { bulk: 'True', verifier: verifierId },
    retry: true,
  });
  const all = expectStatus(r, 200, 'verifier agent list').results;
  return Object.entries(all)
    .map(([id, s]) => summarize(id, s))
    .sort((a, b) => a.agent_id.localeCompare(b.agent_id));
}

/**
 * Polls the verifier until the agent is attested (Get Quote / Provide V) or fails. A failure
 * state is a KeylimeError('verification') carrying the event id, so the CLI exits 1.
 */
export async function waitForState(ctx: TenantContext, agentId: string, timeoutSeconds: number, pollMs = 250): Promise<AgentStatusSummary> {
  const sleep = ctx.config.sleep ?? realSleep;
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const s = await verifierStatus(ctx, agentId);
    if (s && (s.operational_state === State.GET_QUOTE || s.operational_state === State.PROVIDE_V) && s.attestation_count > 0) return s;
    if (s && FAILURE_STATES.has(s.operational_state)) {
      throw new KeylimeError('verification', `agent '${agentId}' is in state ${s.state}${s.last_event_id ? ` (${s.last_event_id})` : ''}`, {
        details: { status: s },
      });
    }
    if (Date.now() > deadline) {
      throw new KeylimeError('verification', `agent '${agentId}' was not attested within ${timeoutSeconds} s (state ${s?.state ?? 'unknown'})`);
    }
    await sleep(pollMs);
  }
}

/** DELETE at the verifier; on 202 polls until the agent is gone. Does not touch the registrar. */
export async function deleteFromVerifier(ctx: TenantContext, agentId: string, timeoutSeconds = 60): Promise<void> {
  const path = await ctx.path(ctx.verifier, `/agents/${checkId(agentId)}`);
  const r = await ctx.verifier.delete(path, { retry: true });
  if (r.status === 404) throw new KeylimeError('not_found', `${ctx.describe('verifier')} does not know agent ${agentId}; nothing to delete`);
  expectStatus(r, [200, 202], `deleting '${agentId}' from the verifier`);
  if (r.status === 202) {
    const sleep = ctx.config.sleep ?? realSleep;
    const deadline = Date.now() + timeoutSeconds * 1000;
    while ((await ctx.verifier.get(path, { retry: true })).status !== 404) {
      if (Date.now() > deadline) throw new KeylimeError('unreachable', `agent '${agentId}' still present at the verifier after ${timeoutSeconds} s`);
      await sleep(250);
    }
  }
}

export async function verifierAction(ctx: TenantContext, agentId: string, what: 'reactivate' | 'stop'): Promise<void> {
  const r = await ctx.verifier.put(await ctx.path(ctx.verifier, `/agents/${checkId(agentId)}/${what}`), '', { retry: true });
  // Keylime answers an unknown agent here with 400 "Exception error: ..."; we answer 404.
  if (r.status === 404 || (r.status === 400 && /No row was found/.test(r.body?.status ?? ''))) {
    throw new KeylimeError('not_found', `${ctx.describe('verifier')} does not know agent ${agentId}; add it with keylime-ts tenant add-agent`);
  }
  expectStatus(r, 200, `${what} of '${agentId}'`);
}

export async function registrarList(ctx: TenantContext): Promise<string[]> {
  const r = await ctx.registrar.get<{ uuids: string[] }>(await ctx.path(ctx.registrar, '/agents/'), { retry: true });
  return expectStatus(r, 200, 'registrar agent list').results.uuids;
}

export async function registrarDelete(ctx: TenantContext, agentId: string): Promise<void> {
  const r = await ctx.registrar.delete(await ctx.path(ctx.registrar, `/agents/${checkId(agentId)}`), { retry: true });
  if (r.status === 404) throw new KeylimeError('not_found', `${ctx.describe('registrar')} does not know agent ${agentId}; nothing to delete`);
  expectStatus(r, 200, `deleting '${agentId}' from the registrar`);
}
