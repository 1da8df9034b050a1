/**
 * GET /machine/authitem[/<application>] (§2.6): the authentication items for a host:
 * ssh keys, luks challenge-responses, offline OTP hashes. With an attestation gate, the
 * host must currently pass attestation before anything is computed or any counter moves.
 */
import { APPLICATIONS, type AuthItem } from '../applications/index.js';
import { listMachineTokens, type MachineTokenItem } from '../binding-queries.js';
import { internalError, policyError } from '../errors.js';
import { findMachines } from '../machine-lookup.js';
import { setOption } from '../options.js';
import { paramsExcept, requireParam } from '../params.js';
import { pyStr } from '../python.js';
import type { MachineContext, ParamValue, Params } from '../types.js';
import { endpoint } from './scope.js';

const AUTHITEM_RESERVED = ['challenge', 'hostname', 'application'] as const;

export type AuthItems = Record<string, AuthItem[]>;

export function getAuthItems(ctx: MachineContext, params: Params, application?: string): Promise<AuthItems> {
  return endpoint(ctx, async (scoped) => {
    const hostname = requireParam(params, 'hostname');
    const filterParam = new Map(paramsExcept(params, AUTHITEM_RESERVED));
    if (scoped.attestationGate) await enforceAttestation(scoped, pyStr(hostname));
    const rows = await listMachineTokens(scoped, {
      hostname,
      application: application ?? undefined,
      filterParams: [...filterParam],
    });
    return computeAuthItems(scoped, rows, params.get('challenge'), filterParam, null);
  });
}

/**
 * Steps 2-5 of §2.6: compute each binding's item, drop empty ones, overlay the binding
 * options, set `serial`, group by application.
 */
async function computeAuthItems(
  ctx: MachineContext,
  rows: readonly MachineTokenItem[],
  challenge: ParamValue | undefined,
  filterParam: ReadonlyMap<string, ParamValue>,
  serial: string | null,
  userAgent?: string,
): Promise<AuthItems> {
  const grouped: AuthItems = {};
  for (const row of rows) {
    const application = APPLICATIONS.get(row.application);
    if (!application) continue;
    const token = await ctx.repo.findTokenBySerial(row.serial);
    if (!token) continue;
    const item = await application.computeItem(ctx, { token, challenge, options: row.options, filterParam, userAgent });
    if (typeof item === 'string') {
      // base's "nothing" is truthy, and privacyIDEA then fails assigning options to a str.
      throw internalError("TypeError: 'str' object does not support item assignment");
    }
    if (Object.keys(item).length === 0) continue;
    for (const [key, value] of Object.entries(row.options)) setOption(item, key, value);
    item.serial = serial;
    (grouped[row.application] ??= []).push(item);
  }
  return grouped;
}

async function enforceAttestation(ctx: MachineContext, hostname: string): Promise<void> {
  const gate = ctx.attestationGate!;
  const hits = await findMachines(ctx, { hostname }, false);
  if (hits.length !== 1) {
    const eventId = hits.length === 0 ? 'machine.unknown' : 'machine.ambiguous';
    const reason = hits.length === 0 ? 'no machine resolver knows it' : 'more than one machine has this hostname';
    throw policyError(`Machine ${hostname} cannot be attested: ${reason}.`, { hostname, event_id: eventId });
  }
  const { resolver, machine } = hits[0]!;
  const verdict = await gate(machine.id, {
    machineId: machine.id,
    resolverName: resolver.name,
    resolverType: resolver.type,
    hostname,
  });
  if (verdict.ok) return;
  throw policyError(`Machine ${machine.id} (${hostname}) does not pass attestation: ${verdict.eventId} (status ${verdict.status}).`, {
    machine_id: machine.id,
    hostname,
    resolver: resolver.name,
    event_id: verdict.eventId,
    status: verdict.status,
  });
}

/**
 * The /validate/check `offline_info` hook: after a successful authentication with
 * `serial`, every offline binding of that token (bound or not) yields an item. Errors
 * are swallowed, as privacyIDEA does; undefined means "add nothing".
 */
export async function offlineAuthItemsAfterValidation(
  ctx: MachineContext,
  serial: string,
  password: string,
  userAgent?: string,
): Promise<{ offline: AuthItem[] } | undefined> {
  try {
    return await endpoint(ctx, async (scoped) => {
      const rows = await listMachineTokens(scoped, { serial, application: 'offline', filterParams: [] });
      const items = await computeAuthItems(scoped, rows, password, new Map(), serial, userAgent);
      return items.offline?.length ? { offline: items.offline } : undefined;
    });
  } catch {
    return undefined;
  }
}
