/**
 * The two ways privacyIDEA lists bindings (§2.3). "Token machines" (Branch A) lists one
 * token's bindings with hostnames; "machine tokens" (Branch B) selects by machine,
 * application, serial and option filters, and feeds /machine/authitem too.
 */
import { internalError, resourceNotFound } from './errors.js';
import { findMachines, findResolverById, findResolverByName, resolveMachine, type MachineIdentity } from './machine-lookup.js';
import { copyOptions, getOption } from './options.js';
import { compareCodePoints, pyStr, pyTruthy } from './python.js';
import {
  ANY_HOST,
  ANY_MACHINE,
  NO_RESOLVER,
  UNKNOWN_HOST,
  type MachineContext,
  type OptionMap,
  type ParamValue,
  type TokenRecord,
} from './types.js';
import { compileWildcard, type WildcardMatcher } from './wildcard.js';

/** Branch A item: has `hostname`, no `type`. */
export interface TokenMachineItem {
  machine_id: string;
  hostname: string;
  application: string;
  resolver: string;
  options: OptionMap;
  id: number;
  serial: string;
}

/** Branch B item: has `type`, no `hostname`; machine_id/resolver echo the query. */
export interface MachineTokenItem {
  serial: string;
  machine_id: string | null;
  resolver: string | null;
  type: string;
  application: string;
  id: number;
  options: OptionMap;
}

export async function listTokenMachines(ctx: MachineContext, serial: string): Promise<TokenMachineItem[]> {
  const token = await ctx.repo.findTokenBySerial(serial);
  if (!token) throw resourceNotFound('The requested Token could not be found.');
  const items: TokenMachineItem[] = [];
  for (const row of await ctx.repo.listBindings({ tokenId: token.id })) {
    let resolver = NO_RESOLVER;
    let hostname = ANY_HOST;
    if (row.machineId && row.resolverId) {
      const record = await findResolverById(ctx, row.resolverId);
      if (!record) throw resourceNotFound('The requested MachineResolver could not be found.');
      resolver = record.name;
      hostname = UNKNOWN_HOST;
    }
    // Substring search, as privacyIDEA does: a similar id or resolver name makes it ambiguous.
    const machines = await findMachines(ctx, { id: row.machineId ?? undefined, resolver });
    const first = machines.length === 1 ? machines[0]!.machine.hostnames[0] : undefined;
    if (first !== undefined) hostname = first;
    items.push({
      machine_id: row.machineId ?? ANY_MACHINE,
      hostname,
      application: row.application,
      resolver,
      options: copyOptions(row.options),
      id: row.id,
      serial,
    });
  }
  return items;
}

export interface MachineTokenQuery {
  hostname?: ParamValue;
  machineid?: ParamValue;
  resolver?: ParamValue;
  /** Exact serial. */
  serial?: ParamValue;
  /** A serial filter containing `*`. */
  serialPattern?: string;
  application?: ParamValue;
  /** Option filters: exact unless the value contains `*`. */
  filterParams: ReadonlyArray<readonly [string, ParamValue]>;
}

export async function listMachineTokens(ctx: MachineContext, query: MachineTokenQuery): Promise<MachineTokenItem[]> {
  let { hostname, machineid, resolver } = query;
  if (machineid === ANY_MACHINE) hostname = machineid = resolver = undefined;
  const serviceId = query.filterParams.find(([key]) => key === 'service_id')?.[1];
  let identity: MachineIdentity | undefined;
  let resolverId: number | undefined;
  // A truthy service_id skips machine resolution entirely (quirk 4).
  if (!pyTruthy(serviceId) && (pyTruthy(hostname) || pyTruthy(machineid) || pyTruthy(resolver))) {
    identity = await resolveMachine(ctx, hostname, machineid, resolver);
    const record = await findResolverByName(ctx, identity.resolverName);
    if (!record) throw internalError(`AttributeError: there is no machine resolver named '${identity.resolverName}'`);
    resolverId = record.id;
  }
  let rows = await ctx.repo.listBindings();
  if (identity) rows = rows.filter((b) => b.machineId === identity.machineId && b.resolverId === resolverId);
  if (pyTruthy(query.application)) {
    const application = pyStr(query.application!);
    rows = rows.filter((b) => b.application === application);
  }
  if (pyTruthy(query.serial)) {
    const token = await ctx.repo.findTokenBySerial(pyStr(query.serial!));
    if (!token) return [];
    rows = rows.filter((b) => b.tokenId === token.id);
  }
  const serialMatcher = query.serialPattern === undefined ? undefined : lazyMatcher(query.serialPattern);
  const optionFilters = query.filterParams.map(([key, value]) => optionFilter(key, value));
  const tokens = new Map<number, TokenRecord | undefined>();
  const items: MachineTokenItem[] = [];
  for (const row of rows) {
    if (!tokens.has(row.tokenId)) tokens.set(row.tokenId, await ctx.repo.findTokenById(row.tokenId));
    const token = tokens.get(row.tokenId);
    if (!token) continue;
    if (serialMatcher && !serialMatcher(token.serial)) continue;
    if (!optionFilters.every((accepts) => accepts(row.options))) continue;
    items.push({
      serial: token.serial,
      machine_id: identity?.machineId ?? null,
      resolver: identity?.resolverName ?? null,
      type: token.tokentype,
      application: row.application,
      id: row.id,
      options: copyOptions(row.options),
    });
  }
  return items;
}

/** Compiled on first use: privacyIDEA only fails on a bad pattern when a row reaches it. */
function lazyMatcher(pattern: string): WildcardMatcher {
  let compiled: WildcardMatcher | undefined;
  return (subject) => (compiled ??= compileWildcard(pattern))(subject);
}

function optionFilter(key: string, raw: ParamValue): (options: OptionMap) => boolean {
  // Non-string JSON values compare in their Python str() form; null as "".
  const value = raw === null ? '' : pyStr(raw);
  if (value.includes('*')) {
    const matcher = lazyMatcher(value);
    return (options) => matcher(getOption(options, key) ?? '');
  }
  return (options) => (getOption(options, key) ?? '') === value;
}

/**
 * Sorts by serial or by an option (missing = ""), in code point order. Stable both ways:
 * desc negates the comparator rather than reversing, so ties keep their order.
 */
export function sortBindingItems<T extends { serial: string; options: OptionMap }>(
  items: readonly T[],
  sortby: ParamValue | undefined,
  sortdir: ParamValue | undefined,
): T[] {
  const by = sortby === undefined ? 'serial' : sortby;
  const keyOf: (item: T) => string =
    by === 'serial' ? (item) => item.serial : typeof by === 'string' ? (item) => getOption(item.options, by) ?? '' : () => '';
  const direction = sortdir === 'desc' ? -1 : 1;
  return [...items].sort((a, b) => direction * compareCodePoints(keyOf(a), keyOf(b)));
}
