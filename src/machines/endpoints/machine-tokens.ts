/**
 * /machine/token: attach (POST, §2.2), list (GET, §2.3), detach (DELETE, §2.4) and
 * POST /machine/tokenoption (§2.5).
 */
import { APPLICATIONS, applicationNamesRepr } from '../applications/index.js';
import {
  listMachineTokens,
  listTokenMachines,
  sortBindingItems,
  type MachineTokenItem,
  type TokenMachineItem,
} from '../binding-queries.js';
import { internalError, parameterError, resourceNotFound } from '../errors.js';
import { findResolverByName, resolveMachine } from '../machine-lookup.js';
import { setOption } from '../options.js';
import { paramsExcept, requireParam } from '../params.js';
import { pyInt, pyStr, pyTruthy } from '../python.js';
import { ANY_MACHINE, NO_RESOLVER, type MachineContext, type OptionMap, type ParamValue, type Params } from '../types.js';
import { endpoint } from './scope.js';

const ATTACH_RESERVED = ['hostname', 'machineid', 'resolver', 'serial', 'application'] as const;
const LIST_RESERVED = ['hostname', 'machineid', 'resolver', 'serial', 'application', 'sortby', 'sortdir', 'page', 'pagesize', 'client', 'g'] as const;
const OPTION_RESERVED = ['hostname', 'machineid', 'resolver', 'serial', 'application', 'mtid', 'client', 'g'] as const;

/** POST /machine/token: the new binding's id. No duplicate or token-type check (quirk 6). */
export function attachToken(ctx: MachineContext, params: Params): Promise<number> {
  return endpoint(ctx, async (scoped) => {
    const hostname = params.get('hostname');
    let machineid = params.get('machineid');
    let resolver = params.get('resolver');
    const serial = pyStr(requireParam(params, 'serial'));
    const application = pyStr(requireParam(params, 'application'));
    // resolver="" is the "no machine" idiom; hostname is kept.
    if (resolver === '') resolver = machineid = null;
    const options: OptionMap = {};
    for (const [key, value] of paramsExcept(params, ATTACH_RESERVED)) {
      setOption(options, key, optionValue(key, value));
    }
    const token = await scoped.repo.findTokenBySerial(serial);
    if (!token) throw resourceNotFound(`Token with serial ${serial} does not exist.`);
    if (!APPLICATIONS.has(application)) {
      throw parameterError(`Application ${application} is not supported. Valid applications are ${applicationNamesRepr()}.`);
    }
    let machineId: string | null = null;
    let resolverId: number | null = null;
    if (pyTruthy(hostname) || pyTruthy(machineid) || pyTruthy(resolver)) {
      const identity = await resolveMachine(scoped, hostname, machineid, resolver);
      machineId = identity.machineId;
      // An unknown resolver name is stored as NULL, silently, as privacyIDEA does.
      resolverId = (await findResolverByName(scoped, identity.resolverName))?.id ?? null;
    }
    const binding = await scoped.repo.insertBinding({ tokenId: token.id, resolverId, machineId, application, options });
    return binding.id;
  });
}

/** Option values are stored as Python str(); a JSON null violates NOT NULL (a 500). */
function optionValue(key: string, value: ParamValue): string {
  if (value === null) throw internalError(`IntegrityError: NOT NULL constraint failed: machinetokenoptions.mt_value (${key})`);
  return pyStr(value);
}

export type BindingListItem = TokenMachineItem | MachineTokenItem;

/**
 * GET /machine/token: a bare array (page/pagesize are ignored). Per-token shape (with
 * hostname) when only an exact serial is given, the machine shape (with type) otherwise.
 */
export function listTokenBindings(ctx: MachineContext, params: Params): Promise<BindingListItem[]> {
  return endpoint(ctx, async (scoped) => {
    const hostname = params.get('hostname');
    const machineid = params.get('machineid');
    const resolver = params.get('resolver');
    const application = params.get('application');
    let serial = params.get('serial');
    const filterParams = paramsExcept(params, LIST_RESERVED);
    let serialPattern: string | undefined;
    if (serial !== undefined && serial !== null && pyStr(serial).includes('*')) {
      serialPattern = pyStr(serial);
      serial = undefined;
    }
    let items: BindingListItem[];
    if (!pyTruthy(hostname) && !pyTruthy(machineid) && !pyTruthy(resolver) && pyTruthy(serial) && filterParams.length === 0) {
      items = await listTokenMachines(scoped, pyStr(serial!));
    } else {
      items = await listMachineTokens(scoped, { hostname, machineid, resolver, serial, serialPattern, application, filterParams });
    }
    return sortBindingItems(items, params.get('sortby'), params.get('sortdir'));
  });
}

export interface DetachPath {
  serial: string;
  machineid: string;
  resolver: string;
  application: string;
}

/**
 * DELETE /machine/token/<serial>/<machineid>/<resolver>/<application>: the number of
 * bindings removed. `any machine`/`no resolver` removes every binding of that
 * application on the token, bound or not (quirk 5).
 */
export function detachToken(ctx: MachineContext, path: DetachPath): Promise<number> {
  return endpoint(ctx, async (scoped) => {
    const wildcard = path.machineid === ANY_MACHINE && path.resolver === NO_RESOLVER;
    let deleted = 0;
    for (const binding of await listTokenMachines(scoped, path.serial)) {
      if (binding.application !== path.application) continue;
      if (!wildcard && (binding.machine_id !== path.machineid || binding.resolver !== path.resolver)) continue;
      if (await scoped.repo.deleteBinding(binding.id)) deleted++;
    }
    return deleted;
  });
}

/** DELETE /machine/token/<serial>/<application>/<mtid>: serial and application are ignored. */
export function detachTokenById(ctx: MachineContext, path: { serial?: string; application?: string; mtid: string }): Promise<1> {
  return endpoint(ctx, async (scoped) => {
    const id = pyInt(path.mtid);
    if (id === undefined || !(await scoped.repo.deleteBinding(id))) {
      throw internalError(`There is no machinetoken with id ${path.mtid}`);
    }
    return 1 as const;
  });
}

/** The DELETE route decides by segment count: 4 → by machine, 3 → by mtid. */
export function detachTokenByPath(ctx: MachineContext, segments: readonly string[]): Promise<number> {
  if (segments.length === 4) {
    const [serial, machineid, resolver, application] = segments as [string, string, string, string];
    return detachToken(ctx, { serial, machineid, resolver, application });
  }
  if (segments.length === 3) {
    const [serial, application, mtid] = segments as [string, string, string];
    return detachTokenById(ctx, { serial, application, mtid });
  }
  return Promise.reject(resourceNotFound('The requested URL was not found on the server.'));
}

export interface OptionChange {
  added: number;
  deleted: number;
}

/**
 * POST /machine/tokenoption: truthy values set options, falsy ones delete them (adds
 * first). The counts are of requested keys, however many bindings matched (quirk 7).
 */
export function setTokenOptions(ctx: MachineContext, params: Params): Promise<OptionChange> {
  return endpoint(ctx, async (scoped) => {
    const requested = paramsExcept(params, OPTION_RESERVED);
    const additions = requested.filter(([, value]) => pyTruthy(value));
    const deletions = requested.filter(([, value]) => !pyTruthy(value));
    const targets = await optionTargets(scoped, params);
    for (const id of targets) {
      for (const [key, value] of additions) await scoped.repo.setBindingOption(id, key, pyStr(value));
    }
    for (const id of targets) {
      for (const [key] of deletions) {
        if (!(await scoped.repo.deleteBindingOption(id, key))) {
          throw internalError(`There is no option ${key} on machinetoken ${id}`);
        }
      }
    }
    return { added: additions.length, deleted: deletions.length };
  });
}

/** mtid addresses one row (unchecked, as in privacyIDEA); otherwise machine + token + application. */
async function optionTargets(ctx: MachineContext, params: Params): Promise<number[]> {
  const mtid = params.get('mtid');
  if (pyTruthy(mtid)) {
    const id = pyInt(mtid!);
    return id !== undefined && (await ctx.repo.findBinding(id)) ? [id] : [];
  }
  const identity = await resolveMachine(ctx, params.get('hostname'), params.get('machineid'), params.get('resolver'));
  const resolver = await findResolverByName(ctx, identity.resolverName);
  if (!resolver) throw internalError(`AttributeError: there is no machine resolver named '${identity.resolverName}'`);
  const serial = params.get('serial');
  const application = params.get('application');
  if (serial === undefined || serial === null || application === undefined || application === null) return [];
  const token = await ctx.repo.findTokenBySerial(pyStr(serial));
  if (!token) return [];
  const app = pyStr(application);
  return (await ctx.repo.listBindings({ tokenId: token.id }))
    .filter((b) => b.resolverId === resolver.id && b.machineId === identity.machineId && b.application === app)
    .map((b) => b.id);
}
