/** GET /machine/ (§2.1): machines of all resolvers, filtered by substrings and an exact IP. */
import { findMachines, type MachineFilter } from '../machine-lookup.js';
import { parseIp } from '../ip.js';
import { truthyString } from '../params.js';
import type { MachineContext, Params } from '../types.js';
import { endpoint } from './scope.js';

export interface MachineListItem {
  hostname: string[];
  ip: string | null;
  resolver_name: string;
  id: string;
}

export function listMachines(ctx: MachineContext, params: Params): Promise<MachineListItem[]> {
  return endpoint(ctx, async (scoped) => {
    const filter: MachineFilter = {
      hostname: truthyString(params, 'hostname'),
      id: truthyString(params, 'id'),
      resolver: truthyString(params, 'resolver'),
      any: truthyString(params, 'any'),
    };
    const ip = truthyString(params, 'ip');
    // An unparseable IP drops the filter instead of failing.
    if (ip !== undefined) filter.ip = parseIp(ip)?.text;
    const found = await findMachines(scoped, filter, true);
    return found.map(({ resolver, machine }) => ({
      hostname: [...machine.hostnames],
      ip: machine.ip,
      resolver_name: resolver.name,
      id: machine.id,
    }));
  });
}
