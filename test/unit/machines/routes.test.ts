import { describe, expect, it } from 'vitest';
import { KeylimeError } from '../../../src/errors.js';
import {
  MACHINE_ROUTES,
  collectParams,
  errorEnvelope,
  successEnvelope,
  type MachineContext,
  type MachineRoute,
} from '../../../src/machines/index.js';
import { SSH_KEY, addHostsResolver, addToken, makeFixture } from './fixture.js';

/** A tiny stand-in for the HTTP adapter: match, collect params, handle, envelope. */
async function call(ctx: MachineContext, method: string, url: string, body?: Record<string, unknown>) {
  const [pathname, query = ''] = url.split('?') as [string, string?];
  const route = findRoute(method, pathname);
  if (!route) throw new Error(`no route for ${method} ${pathname}`);
  try {
    const params = collectParams({ query, json: body, path: route.vars });
    const answer = await route.route.handle(ctx, params);
    return successEnvelope(answer.value, { detail: answer.detail, extra: answer.extra, now: () => 0 });
  } catch (e) {
    return errorEnvelope(e, { now: () => 0 });
  }
}

function findRoute(method: string, pathname: string): { route: MachineRoute; vars: Record<string, string> } | undefined {
  const segments = pathname.split('/');
  // Static paths first, as fastify does.
  const candidates = [...MACHINE_ROUTES].sort((a, b) => Number(a.path.includes(':')) - Number(b.path.includes(':')));
  for (const route of candidates) {
    if (route.method !== method) continue;
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const vars: Record<string, string> = {};
    if (pattern.every((p, i) => (p.startsWith(':') ? ((vars[p.slice(1)] = decodeURIComponent(segments[i]!)), true) : p === segments[i]))) {
      return { route, vars };
    }
  }
  return undefined;
}

describe('route table', () => {
  it('covers every endpoint of the spec once', () => {
    expect(MACHINE_ROUTES.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /machine/',
      'POST /machine/token',
      'GET /machine/token',
      'DELETE /machine/token/:serial/:machineid/:resolver/:application',
      'DELETE /machine/token/:serial/:application/:mtid',
      'POST /machine/tokenoption',
      'GET /machine/authitem',
      'GET /machine/authitem/:application',
      'GET /machineresolver/',
      'GET /machineresolver/:resolver',
      'POST /machineresolver/test',
      'POST /machineresolver/:resolver',
      'DELETE /machineresolver/:resolver',
      'GET /application/',
      'POST /validate/offlinerefill',
    ]);
    expect(MACHINE_ROUTES.filter((r) => r.mutates).map((r) => r.path)).toContain('/machine/authitem');
  });

  it('runs a whole flow through params, handlers and envelopes', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx);
    await addToken(fx, { type: 'sshkey', serial: 'SSHK1', sshkey: SSH_KEY });
    let r = await call(fx.ctx, 'POST', '/machine/token', { serial: 'SSHK1', application: 'ssh', hostname: 'gandalf', user: 'root' });
    expect(r.status).toBe(200);
    expect(r.body.result).toEqual({ status: true, value: 1 });
    r = await call(fx.ctx, 'GET', '/machine/authitem/ssh?hostname=gandalf');
    expect(r.body.result).toEqual({ status: true, value: { ssh: [{ sshkey: SSH_KEY, user: 'root', serial: null }] } });
    r = await call(fx.ctx, 'GET', '/machine/token?serial=SSHK1');
    expect((r.body.result as { value: unknown[] }).value).toHaveLength(1);
    r = await call(fx.ctx, 'DELETE', '/machine/token/SSHK1/192.168.0.1/reso1/ssh');
    expect(r.body.result).toEqual({ status: true, value: 1 });
    r = await call(fx.ctx, 'DELETE', '/machine/token/SSHK1/ssh/1');
    expect(r.status).toBe(500);
    r = await call(fx.ctx, 'POST', '/machineresolver/test', { type: 'hosts' });
    expect(r.body.detail).toMatchObject({ description: 'Not Implemented' });
    r = await call(fx.ctx, 'GET', '/machineresolver/reso1');
    expect(Object.keys((r.body.result as { value: object }).value)).toEqual(['reso1']);
    r = await call(fx.ctx, 'GET', '/application/');
    expect(Object.keys((r.body.result as { value: object }).value).sort()).toEqual(['luks', 'offline', 'ssh']);
    r = await call(fx.ctx, 'GET', '/machine/authitem');
    expect(r.status).toBe(400);
    expect(r.body.result).toEqual({ status: false, error: { code: 905, message: 'ERR905: Missing parameter: hostname' } });
  });

  it('never rejects with anything but KeylimeError, whatever the parameters', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx);
    await addToken(fx, { type: 'sshkey', serial: 'SSHK1', sshkey: SSH_KEY });
    await addToken(fx, { type: 'hotp', serial: 'OATH1', otpkey: '00' });
    await addToken(fx, { type: 'luks', serial: 'UBOM1', otpkey: '01' });
    let succeeded = 0;
    const failedWith = new Set<number>();
    let seed = 99;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const keys = ['serial', 'application', 'hostname', 'machineid', 'resolver', 'mtid', 'challenge', 'user', 'service_id', 'count', 'rounds', 'sortby', 'sortdir', 'type', 'filename', 'pass', 'refilltoken', '__proto__', 'slot'];
    const values: unknown[] = ['', '0', 0, 1, -1, null, true, false, 'SSHK1', 'OATH1', 'UBOM1', 'ssh', 'luks', 'offline', 'base', 'gandalf', 'pippin', 'reso1', '192.168.0.1', '*', '(', '*K*', 'any machine', 'no resolver', 'abcd', 'zz', 'desc', 'hosts', 'keylime', [1], { a: 1 }, '%41', 'x'.repeat(100), '\u0000'];
    for (let i = 0; i < 1500; i++) {
      const route = MACHINE_ROUTES[rnd(MACHINE_ROUTES.length)]!;
      const body: Record<string, unknown> = {};
      const n = rnd(6);
      for (let k = 0; k < n; k++) body[keys[rnd(keys.length)]!] = values[rnd(values.length)];
      const params = collectParams({ json: body, path: Object.fromEntries((route.path.match(/:\w+/g) ?? []).map((v) => [v.slice(1), String(values[rnd(values.length)])])) });
      try {
        await route.handle(fx.ctx, params);
        succeeded++;
      } catch (e) {
        expect(e, `${route.method} ${route.path} ${JSON.stringify(body)}`).toBeInstanceOf(KeylimeError);
        failedWith.add((e as KeylimeError).status);
      }
    }
    // The run reaches both answers and the 400/404/500 failure paths.
    expect(succeeded).toBeGreaterThan(200);
    expect([...failedWith].sort()).toEqual([400, 404, 500]);
  }, 60_000);
});
