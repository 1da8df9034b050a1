/**
 * One request sees one view of each resolver's machines: a hosts file is read once per
 * request rather than once per binding row, which privacyIDEA's per-row queries would do.
 */
import { guarded } from '../errors.js';
import type { MachineContext, MachineEntry, MachineResolverRecord } from '../types.js';

export function requestScope(ctx: MachineContext): MachineContext {
  const cache = new Map<number, Promise<MachineEntry[]>>();
  return {
    ...ctx,
    machines: {
      machinesOf(resolver: MachineResolverRecord) {
        let entry = cache.get(resolver.id);
        if (!entry) {
          entry = Promise.resolve().then(() => ctx.machines.machinesOf(resolver));
          cache.set(resolver.id, entry);
        }
        return entry;
      },
    },
  };
}

/** Runs an endpoint body in a request scope, rejecting with KeylimeErrors only. */
export function endpoint<T>(ctx: MachineContext, body: (scoped: MachineContext) => Promise<T>): Promise<T> {
  return guarded(() => body(requestScope(ctx)));
}
