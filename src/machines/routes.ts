/**
 * The route table the HTTP adapter mounts: method, path (fastify syntax), the admin
 * policy action (§1.1), whether the handler may change the store, and the handler.
 * The adapter authenticates, collects Params with collectParams() (path variables
 * included), calls `handle`, persists when `mutates`, and wraps the answer with
 * successEnvelope()/errorEnvelope().
 */
import { applicationCatalogue } from './applications/index.js';
import { getAuthItems } from './endpoints/authitem.js';
import { listMachines } from './endpoints/machines.js';
import { attachToken, detachToken, detachTokenById, listTokenBindings, setTokenOptions } from './endpoints/machine-tokens.js';
import { offlineRefill } from './endpoints/offline-refill.js';
import {
  deleteMachineResolver,
  listMachineResolvers,
  setMachineResolver,
  testMachineResolver,
} from './endpoints/resolvers.js';
import { pyStr } from './python.js';
import type { MachineContext, Params } from './types.js';

export interface RouteAnswer {
  value: unknown;
  /** Success `detail` (envelope option). */
  detail?: Record<string, unknown>;
  /** Extra top-level envelope members (envelope option). */
  extra?: Record<string, unknown>;
}

export interface MachineRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** 'admin': admin JWT required; 'none': /validate endpoints. */
  auth: 'admin' | 'none';
  /** The admin-scope policy action checked before the handler, if any. */
  action?: string;
  mutates: boolean;
  handle(ctx: MachineContext, params: Params): Promise<RouteAnswer>;
}

const text = (params: Params, key: string): string => pyStr(params.get(key) ?? '');

export const MACHINE_ROUTES: readonly MachineRoute[] = [
  {
    method: 'GET',
    path: '/machine/',
    auth: 'admin',
    action: 'machinelist',
    mutates: false,
    handle: async (ctx, params) => ({ value: await listMachines(ctx, params) }),
  },
  {
    method: 'POST',
    path: '/machine/token',
    auth: 'admin',
    action: 'manage_machine_tokens',
    mutates: true,
    handle: async (ctx, params) => ({ value: await attachToken(ctx, params) }),
  },
  {
    method: 'GET',
    path: '/machine/token',
    auth: 'admin',
    action: 'manage_machine_tokens',
    mutates: false,
    handle: async (ctx, params) => ({ value: await listTokenBindings(ctx, params) }),
  },
  {
    method: 'DELETE',
    path: '/machine/token/:serial/:machineid/:resolver/:application',
    auth: 'admin',
    action: 'manage_machine_tokens',
    mutates: true,
    handle: async (ctx, params) => ({
      value: await detachToken(ctx, {
        serial: text(params, 'serial'),
        machineid: text(params, 'machineid'),
        resolver: text(params, 'resolver'),
        application: text(params, 'application'),
      }),
    }),
  },
  {
    method: 'DELETE',
    path: '/machine/token/:serial/:application/:mtid',
    auth: 'admin',
    action: 'manage_machine_tokens',
    mutates: true,
    handle: async (ctx, params) => ({
      value: await detachTokenById(ctx, { serial: text(params, 'serial'), application: text(params, 'application'), mtid: text(params, 'mtid') }),
    }),
  },
  {
    method: 'POST',
    path: '/machine/tokenoption',
    auth: 'admin',
    action: 'manage_machine_tokens',
    mutates: true,
    handle: async (ctx, params) => ({ value: await setTokenOptions(ctx, params) }),
  },
  {
    method: 'GET',
    path: '/machine/authitem',
    auth: 'admin',
    action: 'fetch_authentication_items',
    mutates: true,
    handle: async (ctx, params) => ({ value: await getAuthItems(ctx, params) }),
  },
  {
    method: 'GET',
    path: '/machine/authitem/:application',
    auth: 'admin',
    action: 'fetch_authentication_items',
    mutates: true,
    handle: async (ctx, params) => ({ value: await getAuthItems(ctx, params, text(params, 'application')) }),
  },
  {
    method: 'GET',
    path: '/machineresolver/',
    auth: 'admin',
    action: 'mresolverread',
    mutates: false,
    handle: async (ctx, params) => ({ value: await listMachineResolvers(ctx, params) }),
  },
  {
    method: 'GET',
    path: '/machineresolver/:resolver',
    auth: 'admin',
    action: 'mresolverread',
    mutates: false,
    handle: async (ctx, params) => ({ value: await listMachineResolvers(ctx, params, text(params, 'resolver')) }),
  },
  {
    method: 'POST',
    path: '/machineresolver/test',
    auth: 'admin',
    mutates: false,
    handle: async (ctx, params) => {
      const answer = await testMachineResolver(ctx, params);
      return { value: answer.value, detail: answer.detail };
    },
  },
  {
    method: 'POST',
    path: '/machineresolver/:resolver',
    auth: 'admin',
    action: 'mresolverwrite',
    mutates: true,
    handle: async (ctx, params) => ({ value: await setMachineResolver(ctx, text(params, 'resolver'), params) }),
  },
  {
    method: 'DELETE',
    path: '/machineresolver/:resolver',
    auth: 'admin',
    action: 'mresolverdelete',
    mutates: true,
    handle: async (ctx, params) => ({ value: await deleteMachineResolver(ctx, text(params, 'resolver')) }),
  },
  {
    method: 'GET',
    path: '/application/',
    auth: 'admin',
    mutates: false,
    handle: async (ctx) => ({ value: applicationCatalogue(ctx.serviceIds ?? []) }),
  },
  {
    method: 'POST',
    path: '/validate/offlinerefill',
    auth: 'none',
    mutates: true,
    handle: async (ctx, params) => {
      const answer = await offlineRefill(ctx, params);
      return { value: answer.value, extra: { auth_items: answer.auth_items } };
    },
  },
];
