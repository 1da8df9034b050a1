import { expectStatus } from '../client/http.js';
import { KeylimeError, invalidInput } from '../errors.js';
import { parseRuntimePolicy } from '../ima/index.js';
import type { TenantContext } from './context.js';

/** The two kinds of named policy the verifier stores, with their Keylime paths and shapes (§7.1, §8.2). */
export type PolicyKind = 'runtime' | 'mb';

const KIND = {
  runtime: { path: '/allowlists', listKey: 'runtimepolicy names', what: 'runtime policy' },
  mb: { path: '/mbpolicies', listKey: 'mbpolicy names', what: 'measured boot policy' },
} as const;

function checkName(name: string): string {
  if (!/^[\w.-]+$/.test(name)) throw invalidInput(`invalid policy name '${name}': use letters, digits, '_', '.' and '-'`);
  return name;
}

function body(kind: PolicyKind, document: string, signingKey?: string): Record<string, unknown> {
  if (kind === 'runtime') {
    parseRuntimePolicy(document);
    return {
      runtime_policy: Buffer.from(document, 'utf8').toString('base64'),
      runtime_policy_key: signingKey ? Buffer.from(signingKey, 'utf8').toString('base64') : '',
      tpm_policy: null,
    };
  }
  try {
    JSON.parse(document);
  } catch {
    throw invalidInput('the measured boot policy is not valid JSON');
  }
  return { mb_policy: document };
}

/** `signingKey`: PEM public key a DSSE-signed runtime policy must verify under (checked by the verifier). */
export async function storePolicy(ctx: TenantContext, kind: PolicyKind, name: string, document: string, update: boolean, signingKey?: string): Promise<void> {
  const k = KIND[kind];
  const path = await ctx.path(ctx.verifier, `${k.path}/${checkName(name)}`);
  const payload = body(kind, document, signingKey);
  const r = update ? await ctx.verifier.put(path, payload, { retry: true }) : await ctx.verifier.post(path, payload, { retry: true });
  if (r.status === 409) throw new KeylimeError('conflict', `a ${k.what} named '${name}' already exists; use update`);
  if (r.status === 401) throw new KeylimeError('verification', r.body?.status ?? `the ${k.what} signature does not verify`);
  if (r.status === 404) throw new KeylimeError('not_found', `no ${k.what} named '${name}'; use add`);
  expectStatus(r, [200, 201], `storing ${k.what} '${name}'`);
}

export async function showPolicy(ctx: TenantContext, kind: PolicyKind, name: string): Promise<Record<string, unknown>> {
  const k = KIND[kind];
  const r = await ctx.verifier.get<Record<string, unknown>>(await ctx.path(ctx.verifier, `${k.path}/${checkName(name)}`), { retry: true });
  if (r.status === 404) throw new KeylimeError('not_found', `no ${k.what} named '${name}'`);
  return expectStatus(r, 200, `reading ${k.what} '${name}'`).results;
}

export async function listPolicies(ctx: TenantContext, kind: PolicyKind): Promise<string[]> {
  const k = KIND[kind];
  const r = await ctx.verifier.get<Record<string, string[]>>(await ctx.path(ctx.verifier, `${k.path}/`), { retry: true });
  const results = expectStatus(r, 200, `listing ${k.what}s`).results;
  return results[k.listKey] ?? [];
}

export async function deletePolicy(ctx: TenantContext, kind: PolicyKind, name: string): Promise<void> {
  const k = KIND[kind];
  const r = await ctx.verifier.delete(await ctx.path(ctx.verifier, `${k.path}/${checkName(name)}`), { retry: true });
  if (r.status === 404) throw new KeylimeError('not_found', `no ${k.what} named '${name}'`);
  if (r.status === 409) throw new KeylimeError('conflict', r.body?.status ?? `${k.what} '${name}' is in use`);
  expectStatus(r, [200, 204], `deleting ${k.what} '${name}'`);
}
