/**
 * The part of privacyIDEA's /token API that machine tokens need: enrol (sshkey, hotp,
 * totp, luks = totp with a UBOM serial, spass), list, delete, enable and disable. Same
 * route shape as MACHINE_ROUTES, so the plugin mounts both the same way.
 */
import type { TokenItem } from '../../client/machines.js';
import {
  deleteToken,
  enrollToken,
  parameterError,
  requireParam,
  setTokenActive,
  tokenView,
  type EnrollType,
  type MachineContext,
  type MachineRoute,
  type Params,
  type TokenRecord,
} from '../../machines/index.js';
import { compareCodePoints, pyInt, pyStr, pyTruthy } from '../../machines/python.js';
import { compileWildcard } from '../../machines/wildcard.js';

export const ENROLL_TYPES: readonly EnrollType[] = ['hotp', 'totp', 'luks', 'sshkey', 'spass'];
const HMAC_TYPES = new Set<EnrollType>(['hotp', 'totp', 'luks']);
export const DEFAULT_PAGE_SIZE = 15;
const MAX_PAGE_SIZE = 10_000;

const optionalText = (params: Params, key: string): string | undefined => (pyTruthy(params.get(key)) ? pyStr(params.get(key)) : undefined);

function optionalInt(params: Params, key: string): number | undefined {
  const raw = params.get(key);
  if (!pyTruthy(raw)) return undefined;
  const value = pyInt(raw);
  if (value === undefined) throw parameterError(`${key} must be an integer, not ${pyStr(raw)}.`);
  return value;
}

/** POST /token/init. Value `true`; detail carries the serial and, for a generated key, the seed once. */
export async function initToken(ctx: MachineContext, params: Params): Promise<{ value: true; detail: Record<string, unknown> }> {
  const type = pyStr(params.get('type') ?? 'hotp').toLowerCase() as EnrollType;
  if (!ENROLL_TYPES.includes(type)) throw parameterError(`Token type ${type} is not supported. Supported types: ${ENROLL_TYPES.join(', ')}.`);
  const otpkey = optionalText(params, 'otpkey');
  const genkey = pyTruthy(params.get('genkey')) && pyStr(params.get('genkey')) !== '0';
  if (HMAC_TYPES.has(type)) {
    if (otpkey !== undefined && genkey) throw parameterError('Give either otpkey or genkey=1, not both.');
    if (otpkey === undefined && !genkey) throw parameterError('Missing parameter: otpkey (or genkey=1 to generate one)');
  }
  const enrolled = await enrollToken(ctx, {
    type,
    serial: optionalText(params, 'serial'),
    otpkey,
    otplen: optionalInt(params, 'otplen'),
    hashlib: optionalText(params, 'hashlib'),
    timeStep: optionalInt(params, 'timeStep'),
    sshkey: type === 'sshkey' ? pyStr(requireParam(params, 'sshkey')) : undefined,
    owner: optionalText(params, 'user') ?? null,
    description: optionalText(params, 'description') ?? '',
  });
  const detail: Record<string, unknown> = { serial: enrolled.token.serial, rollout_state: '' };
  if (enrolled.generatedKey !== undefined) detail.otpkey = { description: 'OTP seed', value: `seed://${enrolled.generatedKey}` };
  return { value: true, detail };
}

/** A GET /token/ row: the wire shape the machine API client reads. */
export type TokenListItem = TokenItem;

export interface TokenListValue {
  count: number;
  current: number;
  next: number | null;
  prev: number | null;
  tokens: TokenListItem[];
}

function listItem(token: TokenRecord): TokenListItem {
  const view = tokenView(token);
  return {
    id: token.id,
    serial: view.serial,
    tokentype: view.tokentype,
    active: view.active,
    description: view.description,
    count: view.count,
    count_window: token.countWindow,
    otplen: view.otplen,
    info: view.info,
    username: view.owner ?? '',
  };
}

/** GET /token/: `serial` (exact, or with `*`), `type`, `user`; sorted by serial; paged like privacyIDEA. */
export async function listTokens(ctx: MachineContext, params: Params): Promise<TokenListValue> {
  const serial = optionalText(params, 'serial');
  const serialMatch = serial === undefined ? () => true : serial.includes('*') ? compileWildcard(serial) : (s: string) => s === serial;
  const type = optionalText(params, 'type')?.toLowerCase();
  const user = optionalText(params, 'user');
  const page = optionalInt(params, 'page') ?? 1;
  const pageSize = optionalInt(params, 'pagesize') ?? DEFAULT_PAGE_SIZE;
  if (page < 1) throw parameterError('page must be 1 or more.');
  if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw parameterError(`pagesize must be from 1 to ${MAX_PAGE_SIZE}.`);
  const desc = pyStr(params.get('sortdir') ?? 'asc') === 'desc';
  const tokens = (await ctx.repo.listTokens())
    .filter((t) => serialMatch(t.serial) && (type === undefined || t.tokentype === type) && (user === undefined || t.owner === user))
    .sort((a, b) => (desc ? -1 : 1) * compareCodePoints(a.serial, b.serial));
  const start = (page - 1) * pageSize;
  return {
    count: tokens.length,
    current: page,
    next: start + pageSize < tokens.length ? page + 1 : null,
    prev: page > 1 ? page - 1 : null,
    tokens: tokens.slice(start, start + pageSize).map(listItem),
  };
}

const serialParam = (params: Params): string => pyStr(requireParam(params, 'serial'));

function activeRoutes(action: 'enable' | 'disable'): MachineRoute[] {
  const path = `/token/${action}`;
  const active = action === 'enable';
  const handle = async (ctx: MachineContext, params: Params) => {
    await setTokenActive(ctx, serialParam(params), active);
    return { value: 1 };
  };
  return [
    { method: 'POST', path, auth: 'admin', action, mutates: true, handle },
    { method: 'POST', path: `${path}/:serial`, auth: 'admin', action, mutates: true, handle },
  ];
}

export const TOKEN_ROUTES: readonly MachineRoute[] = [
  {
    method: 'POST',
    path: '/token/init',
    auth: 'admin',
    action: 'enrollHOTP',
    mutates: true,
    handle: (ctx, params) => initToken(ctx, params),
  },
  {
    method: 'GET',
    path: '/token/',
    auth: 'admin',
    action: 'tokenlist',
    mutates: false,
    handle: async (ctx, params) => ({ value: await listTokens(ctx, params) }),
  },
  {
    method: 'DELETE',
    path: '/token/:serial',
    auth: 'admin',
    action: 'delete',
    mutates: true,
    handle: async (ctx, params) => {
      await deleteToken(ctx, serialParam(params));
      return { value: 1 };
    },
  },
  ...activeRoutes('enable'),
  ...activeRoutes('disable'),
];
