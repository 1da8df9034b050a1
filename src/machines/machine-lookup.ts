/**
 * Finding machines across all resolvers (§2.1, §3.3) and the shared "resolve machine"
 * helper that turns (hostname, machineid, resolver) into one machine identity (§2).
 */
import { internalError } from './errors.js';
import { pyStr, pyTruthy } from './python.js';
import type { MachineContext, MachineEntry, MachineResolverRecord, ParamValue } from './types.js';

export interface MachineFilter {
  /** Substring of any hostname (exact hostname match when not in substring mode). */
  hostname?: string;
  /** Normalised IP text; always exact. */
  ip?: string;
  /** Substring of the machine id. */
  id?: string;
  /** Substring of the resolver name; resolvers that do not contain it are skipped. */
  resolver?: string;
  /** Substring of the id, of any hostname, or of the IP text. */
  any?: string;
}

export interface FoundMachine {
  resolver: MachineResolverRecord;
  machine: MachineEntry;
}

/** Machines matching every given filter, resolvers in database order, machines in source order. */
export async function findMachines(ctx: MachineContext, filter: MachineFilter, substring = true): Promise<FoundMachine[]> {
  const found: FoundMachine[] = [];
  for (const resolver of await ctx.repo.listResolvers()) {
    if (filter.resolver && !resolver.name.includes(filter.resolver)) continue;
    for (const machine of await ctx.machines.machinesOf(resolver)) {
      if (machineMatches(machine, filter, substring)) found.push({ resolver, machine });
    }
  }
  return found;
}

function machineMatches(machine: MachineEntry, filter: MachineFilter, substring: boolean): boolean {
  if (filter.id) {
    if (substring ? !machine.id.includes(filter.id) : machine.id !== filter.id) return false;
  }
  if (filter.hostname) {
    const wanted = filter.hostname;
    const hit = substring ? machine.hostnames.some((h) => h.includes(wanted)) : machine.hostnames.includes(wanted);
    if (!hit) return false;
  }
  if (filter.ip && machine.ip !== filter.ip) return false;
  if (filter.any) {
    const needle = filter.any;
    const hit =
      machine.id.includes(needle) || machine.hostnames.some((h) => h.includes(needle)) || (machine.ip ?? '').includes(needle);
    if (!hit) return false;
  }
  return true;
}

export interface MachineIdentity {
  machineId: string;
  resolverName: string;
}

/**
 * privacyIDEA's machine identification: a truthy hostname must match exactly one machine
 * (case-sensitive, over all resolvers) and overrides machineid/resolver; afterwards both
 * must be truthy. All failures are plain exceptions there, hence 500s here. The pair is
 * not checked against the resolver.
 */
export async function resolveMachine(
  ctx: MachineContext,
  hostname: ParamValue | undefined,
  machineId: ParamValue | undefined,
  resolverName: ParamValue | undefined,
): Promise<MachineIdentity> {
  let id = machineId;
  let resolver = resolverName;
  if (pyTruthy(hostname)) {
    const name = pyStr(hostname!);
    const hits = await findMachines(ctx, { hostname: name }, false);
    if (hits.length === 0) throw internalError(`There is no machine with name='${name}' and IP=None`);
    if (hits.length > 1) {
      throw internalError(`Can not get unique ID for hostname='${name}' and IP=None. More than one machine found.`);
    }
    id = hits[0]!.machine.id;
    resolver = hits[0]!.resolver.name;
  }
  if (!pyTruthy(id) || !pyTruthy(resolver)) throw internalError('Incomplete tuple of machine_id and resolver_name');
  return { machineId: pyStr(id!), resolverName: pyStr(resolver!) };
}

export async function findResolverByName(ctx: MachineContext, name: string): Promise<MachineResolverRecord | undefined> {
  return (await ctx.repo.listResolvers()).find((r) => r.name === name);
}

export async function findResolverById(ctx: MachineContext, id: number): Promise<MachineResolverRecord | undefined> {
  return (await ctx.repo.listResolvers()).find((r) => r.id === id);
}
