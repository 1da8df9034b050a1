/**
 * The attestation gate's verdict from a verifier agent record: granted while the agent is
 * in Get Quote / Provide V (or their retries), has passed at least one quote, and has no
 * failure on record. A failure keeps the gate shut until the tenant reactivates the agent
 * (which clears last_event_id), even if later quotes pass.
 */
import { State, stateName } from '../verifier/states.js';
import type { AgentAttestation } from './deps.js';

export interface AttestedAgentFields {
  operational_state: number;
  attestation_count: number;
  last_event_id: string | null;
}

const PASSING: ReadonlySet<number> = new Set([State.GET_QUOTE, State.GET_QUOTE_RETRY, State.PROVIDE_V, State.PROVIDE_V_RETRY]);

export function agentAttestation(agent: AttestedAgentFields | undefined): AgentAttestation {
  if (!agent) return { ok: false, eventId: 'attestation.unknown_agent', state: 'Unknown' };
  const state = stateName(agent.operational_state);
  if (agent.last_event_id) return { ok: false, eventId: agent.last_event_id, state };
  if (!PASSING.has(agent.operational_state)) return { ok: false, eventId: 'attestation.not_attesting', state };
  if (agent.attestation_count <= 0) return { ok: false, eventId: 'attestation.pending', state };
  return { ok: true };
}
