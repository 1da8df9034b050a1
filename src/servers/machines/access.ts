/**
 * What each caller may do. Administrators: everything. A machine: only its own
 * authentication items (GET /machine/authitem with a hostname that resolves to its own
 * agent in a `keylime` resolver, no `service_id`), and offline refills while it passes
 * attestation. Everything else is a 403 in privacyIDEA's envelope.
 */
import { authError, policyError, type MachineContext, type Params } from '../../machines/index.js';
import { findMachines } from '../../machines/machine-lookup.js';
import { pyStr, pyTruthy } from '../../machines/python.js';
import type { Caller } from './caller.js';
import type { AgentAttestation } from './deps.js';

/** How a machine certificate may use a route; routes without it are for administrators only. */
export type MachineAccess = 'own-authitem' | 'attested';

export interface AccessCheck {
  caller: Caller;
  method: string;
  path: string;
  machineAccess?: MachineAccess;
  params: Params;
  ctx: MachineContext;
  attestation(agentId: string): Promise<AgentAttestation>;
}

/** Throws the privacyIDEA error for a refused request; returns for an allowed one. */
export async function authorize(check: AccessCheck): Promise<void> {
  const { caller } = check;
  if (caller.role === 'refused') throw authError(caller.code, caller.reason);
  if (caller.role === 'admin') return;
  const agentId = caller.agentId;
  if (check.machineAccess === 'own-authitem') return ownAuthItems(check, agentId);
  if (check.machineAccess === 'attested') {
    const verdict = await check.attestation(agentId);
    if (!verdict.ok) {
      throw policyError(`Agent ${agentId} does not pass attestation: ${verdict.eventId} (${verdict.state}).`, {
        machine_id: agentId,
        event_id: verdict.eventId,
        status: verdict.state,
      });
    }
    return;
  }
  throw policyError(
    `The certificate of agent ${agentId} may only fetch its own authentication items; ${check.method} ${check.path} needs an administrator certificate.`,
  );
}

async function ownAuthItems(check: AccessCheck, agentId: string): Promise<void> {
  if (pyTruthy(check.params.get('service_id'))) {
    throw policyError(`The certificate of agent ${agentId} may not fetch items by service_id: they are not tied to one machine.`);
  }
  const hostname = check.params.get('hostname');
  // Without a hostname the endpoint answers its own 400; nothing is revealed.
  if (!pyTruthy(hostname)) return;
  const name = pyStr(hostname);
  const hits = await findMachines(check.ctx, { hostname: name }, false);
  const own = hits.length === 1 && hits[0]!.resolver.type === 'keylime' && hits[0]!.machine.id === agentId;
  if (!own) {
    throw policyError(`The certificate of agent ${agentId} may only fetch its own authentication items, and ${name} is not agent ${agentId}.`, {
      machine_id: agentId,
      hostname: name,
    });
  }
}
