/**
 * /machineresolver/ (§2.7): create, update, list, delete and test machine resolvers.
 * Besides privacyIDEA's `hosts` (and `ldap`, stored but not queried), the `keylime` type
 * lists the verifier's agents.
 */
import { internalError, resourceNotFound } from '../errors.js';
import { findResolverByName } from '../machine-lookup.js';
import { setOption } from '../options.js';
import { pyStr } from '../python.js';
import { openSecret, sealSecret } from '../secret-box.js';
import type { MachineContext, Params, ResolverConfigEntry, ResolverType } from '../types.js';
import { endpoint } from './scope.js';

export const RESOLVER_TYPES: readonly ResolverType[] = ['hosts', 'ldap', 'keylime'];
export const CENSORED = '__CENSORED__';
const NAME_PATTERN = /^[A-Za-z0-9_\-.]+$/;

function passwordContext(resolver: string, key: string): string {
  return `keylime-ts machineresolver ${resolver} ${key}`;
}

/**
 * POST /machineresolver/<name>: the resolver id. `type.<key>`/`desc.<key>` set a config
 * entry's type and description; password values are sealed, and `__CENSORED__` keeps
 * the stored one. Keys not sent are kept on update.
 */
export function setMachineResolver(ctx: MachineContext, name: string, params: Params): Promise<number> {
  return endpoint(ctx, async (scoped) => {
    if (!NAME_PATTERN.test(name)) throw internalError(`The name of the machine resolver is invalid: ${name}`);
    const type = params.get('type');
    if (typeof type !== 'string' || !(RESOLVER_TYPES as readonly string[]).includes(type)) {
      throw internalError(`machine resolver type ${pyStr(type ?? null)} not in ${RESOLVER_TYPES.join(', ')}`);
    }
    const existing = await findResolverByName(scoped, name);
    if (existing && existing.type !== type) throw internalError('Can not change the type of a machine resolver');
    const values = new Map<string, string>();
    const types = new Map<string, string>();
    const descriptions = new Map<string, string>();
    for (const [key, value] of params) {
      if (key === 'type' || key === 'resolver') continue;
      if (key.startsWith('type.')) types.set(key.slice(5), pyStr(value));
      else if (key.startsWith('desc.')) descriptions.set(key.slice(5), pyStr(value));
      else values.set(key, pyStr(value));
    }
    for (const key of [...types.keys(), ...descriptions.keys()]) {
      if (!values.has(key)) throw internalError(`type or description without value: ${key}`);
    }
    const config: Record<string, ResolverConfigEntry> = {};
    for (const [key, entry] of Object.entries(existing?.config ?? {})) setOption(config, key, entry);
    for (const [key, value] of values) {
      const previous = Object.hasOwn(config, key) ? config[key] : undefined;
      const entryType = types.get(key) ?? previous?.type ?? '';
      let stored = value;
      if (entryType === 'password') {
        stored =
          value === CENSORED && previous?.type === 'password'
            ? previous.value
            : JSON.stringify(sealSecret(Buffer.from(value, 'utf8'), scoped.secretKey, passwordContext(name, key), scoped.randomBytes));
      }
      setOption(config, key, { value: stored, type: entryType, description: descriptions.get(key) ?? previous?.description ?? '' });
    }
    if (existing) {
      await scoped.repo.replaceResolverConfig(existing.id, config);
      return existing.id;
    }
    return (await scoped.repo.insertResolver({ name, type: type as ResolverType, config })).id;
  });
}

export interface ResolverDescription {
  resolvername: string;
  type: ResolverType;
  data: Record<string, string>;
}

/** GET /machineresolver/[<name>]: keyed by name; passwords censored; `type` filters. */
export function listMachineResolvers(ctx: MachineContext, params: Params, name?: string): Promise<Record<string, ResolverDescription>> {
  return endpoint(ctx, async (scoped) => {
    const typeFilter = params.get('type');
    const out: Record<string, ResolverDescription> = {};
    for (const resolver of await scoped.repo.listResolvers()) {
      if (name !== undefined && resolver.name.toLowerCase() !== name.toLowerCase()) continue;
      if (typeof typeFilter === 'string' && typeFilter !== '' && resolver.type !== typeFilter) continue;
      const data: Record<string, string> = {};
      for (const [key, entry] of Object.entries(resolver.config)) setOption(data, key, entry.type === 'password' ? CENSORED : entry.value);
      setOption(out, resolver.name, { resolvername: resolver.name, type: resolver.type, data });
    }
    return out;
  });
}

/** A resolver's clear-text config value (for the server's LDAP bind, say); undefined when absent. */
export function resolverConfigValue(ctx: MachineContext, resolver: { name: string; config: Record<string, ResolverConfigEntry> }, key: string): string | undefined {
  const entry = Object.hasOwn(resolver.config, key) ? resolver.config[key] : undefined;
  if (!entry) return undefined;
  if (entry.type !== 'password') return entry.value;
  let sealed: unknown;
  try {
    sealed = JSON.parse(entry.value);
  } catch {
    throw internalError(`the stored password ${key} of resolver ${resolver.name} is damaged`);
  }
  return openSecret(sealed, ctx.secretKey, passwordContext(resolver.name, key)).toString('utf8');
}

/** DELETE /machineresolver/<name>: the deleted id. Bindings stay, orphaned (§3.5). */
export function deleteMachineResolver(ctx: MachineContext, name: string): Promise<number> {
  return endpoint(ctx, async (scoped) => {
    const resolver = await findResolverByName(scoped, name);
    if (!resolver) throw resourceNotFound('The requested MachineResolver could not be found.');
    await scoped.repo.deleteResolver(resolver.id);
    return resolver.id;
  });
}

export interface ResolverTestAnswer {
  value: boolean;
  detail: { description: string };
}

/**
 * POST /machineresolver/test: hosts answers "Not Implemented" as privacyIDEA does; a
 * keylime resolver lists the verifier's agents and reports how many it found.
 */
export function testMachineResolver(ctx: MachineContext, params: Params): Promise<ResolverTestAnswer> {
  return endpoint(ctx, async (scoped) => {
    const type = params.get('type');
    if (type === 'keylime') {
      const machines = await scoped.machines.machinesOf({ id: 0, name: 'test', type: 'keylime', config: {} });
      return { value: true, detail: { description: `${machines.length} machines found` } };
    }
    return { value: false, detail: { description: 'Not Implemented' } };
  });
}
