import { describe, expect, it } from 'vitest';
import {
  attachToken,
  collectParams,
  deleteMachineResolver,
  deleteToken,
  detachToken,
  detachTokenById,
  detachTokenByPath,
  listTokenBindings,
  paramsOf,
  setTokenOptions,
} from '../../../src/machines/index.js';
import { SSH_KEY, addHostsResolver, addToken, makeFixture, piFailure, type Fixture } from './fixture.js';

async function sshFixture(): Promise<Fixture> {
  const fx = makeFixture();
  await addHostsResolver(fx);
  await addToken(fx, { type: 'sshkey', serial: 'SSHKEY1', sshkey: SSH_KEY });
  await addToken(fx, { type: 'sshkey', serial: 'SSHKEY10', sshkey: SSH_KEY });
  await addToken(fx, { type: 'hotp', serial: 'OATH1', otpkey: '3132333435363738393031323334353637383930' });
  return fx;
}

const attach = (fx: Fixture, p: Record<string, unknown>) => attachToken(fx.ctx, paramsOf(p));
const list = (fx: Fixture, p: Record<string, unknown>) => listTokenBindings(fx.ctx, paramsOf(p));

describe('POST /machine/token (§2.2)', () => {
  it('requires serial, then application ("" counts as missing)', async () => {
    const fx = await sshFixture();
    expect(await piFailure(attach(fx, { application: 'ssh' }))).toMatchObject({ status: 400, code: 905, message: 'ERR905: Missing parameter: serial' });
    expect(await piFailure(attach(fx, { serial: '', application: '' }))).toMatchObject({ message: 'ERR905: Missing parameter: serial' });
    expect(await piFailure(attach(fx, { serial: 'SSHKEY1' }))).toMatchObject({ status: 400, code: 905, message: 'ERR905: Missing parameter: application' });
  });

  it('404s an unknown token before checking the application', async () => {
    const fx = await sshFixture();
    expect(await piFailure(attach(fx, { serial: 'NOPE', application: 'bogus' }))).toMatchObject({
      status: 404,
      code: 601,
      message: 'Token with serial NOPE does not exist.',
    });
  });

  it('rejects an unknown application with the registry listed', async () => {
    const fx = await sshFixture();
    expect(await piFailure(attach(fx, { serial: 'SSHKEY1', application: 'bogus' }))).toMatchObject({
      status: 400,
      code: 905,
      message: "ERR905: Application bogus is not supported. Valid applications are dict_keys(['base', 'luks', 'offline', 'ssh']).",
    });
  });

  it('binds by hostname and stores every other key as a string option', async () => {
    const fx = await sshFixture();
    const id = await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf', user: 'root', count: 17, flag: true, empty: '' });
    expect(id).toBe(1);
    expect(fx.repo.data.bindings[0]).toEqual({
      id: 1,
      tokenId: 1,
      resolverId: 1,
      machineId: '192.168.0.1',
      application: 'ssh',
      options: { user: 'root', count: '17', flag: 'True', empty: '' },
    });
  });

  it('allows duplicates and any token type (no checks)', async () => {
    const fx = await sshFixture();
    expect(await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf' })).toBe(1);
    expect(await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf' })).toBe(2);
    expect(await attach(fx, { serial: 'SSHKEY1', application: 'luks', hostname: 'gandalf' })).toBe(3);
  });

  it('unbound idioms: resolver "" (JSON machineid 0), and JSON machineid 0 alone', async () => {
    const fx = await sshFixture();
    await attach(fx, { serial: 'OATH1', application: 'offline', machineid: 0, resolver: '' });
    await attach(fx, { serial: 'OATH1', application: 'offline', machineid: 0 });
    await attach(fx, { serial: 'OATH1', application: 'offline', machineid: 'x', resolver: '' });
    for (const b of fx.repo.data.bindings) expect([b.machineId, b.resolverId]).toEqual([null, null]);
  });

  it('form machineid=0 without resolver is truthy "0": incomplete tuple, 500', async () => {
    const fx = await sshFixture();
    const failure = await piFailure(attachToken(fx.ctx, collectParams({ form: 'serial=OATH1&application=offline&machineid=0' })));
    expect(failure).toMatchObject({ status: 500, code: -500, internal: 'Incomplete tuple of machine_id and resolver_name' });
  });

  it('resolver "" keeps the hostname, which still binds', async () => {
    const fx = await sshFixture();
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'pippin', resolver: '' });
    expect(fx.repo.data.bindings[0]).toMatchObject({ machineId: '192.168.0.2', resolverId: 1 });
  });

  it('500s on an unknown or ambiguous hostname', async () => {
    const fx = await sshFixture();
    expect(await piFailure(attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'frodo' }))).toMatchObject({
      status: 500,
      internal: "There is no machine with name='frodo' and IP=None",
    });
    expect(await piFailure(attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandal' }))).toMatchObject({ status: 500 });
    await addHostsResolver(fx, 'reso2');
    expect(await piFailure(attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf' }))).toMatchObject({
      status: 500,
      internal: "Can not get unique ID for hostname='gandalf' and IP=None. More than one machine found.",
    });
  });

  it('stores machineid with an unknown resolver name as a NULL resolver', async () => {
    const fx = await sshFixture();
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', machineid: 'm1', resolver: 'nosuch' });
    expect(fx.repo.data.bindings[0]).toMatchObject({ machineId: 'm1', resolverId: null });
  });

  it('a JSON null option is a NOT NULL violation (500) and stores nothing', async () => {
    const fx = await sshFixture();
    expect(await piFailure(attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf', user: null }))).toMatchObject({ status: 500 });
    expect(fx.repo.data.bindings).toHaveLength(0);
  });
});

describe('GET /machine/token (§2.3)', () => {
  async function bound(): Promise<Fixture> {
    const fx = await sshFixture();
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf', user: 'root' }); // 1
    await attach(fx, { serial: 'SSHKEY10', application: 'ssh', hostname: 'gandalf', user: 'admin' }); // 2
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'pippin', user: 'Root2' }); // 3
    await attach(fx, { serial: 'OATH1', application: 'offline', machineid: 0, resolver: '', count: '12' }); // 4
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', machineid: 0, resolver: '', service_id: 'webservers', user: 'web' }); // 5
    return fx;
  }

  it('per-token shape for an exact serial alone: hostname, no type, application ignored', async () => {
    const fx = await bound();
    const items = await list(fx, { serial: 'SSHKEY1', application: 'offline' });
    expect(items).toEqual([
      { machine_id: '192.168.0.1', hostname: 'gandalf', application: 'ssh', resolver: 'reso1', options: { user: 'root' }, id: 1, serial: 'SSHKEY1' },
      { machine_id: '192.168.0.2', hostname: 'pippin', application: 'ssh', resolver: 'reso1', options: { user: 'Root2' }, id: 3, serial: 'SSHKEY1' },
      {
        machine_id: 'any machine',
        hostname: 'any host',
        application: 'ssh',
        resolver: 'no resolver',
        options: { service_id: 'webservers', user: 'web' },
        id: 5,
        serial: 'SSHKEY1',
      },
    ]);
  });

  it('per-token shape: 404 for an unknown token, "unknown" hostname when the id lookup is ambiguous', async () => {
    const fx = await sshFixture();
    expect(await piFailure(list(fx, { serial: 'NOPE' }))).toMatchObject({ status: 404, code: 601, message: 'The requested Token could not be found.' });
    fx.files.set('/etc/pi-hosts', '192.168.0.1 gandalf\n192.168.0.10 saruman\n');
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf' });
    expect(await list(fx, { serial: 'SSHKEY1' })).toMatchObject([{ hostname: 'unknown', machine_id: '192.168.0.1' }]);
  });

  it('per-token shape 404s once the resolver of a binding is deleted', async () => {
    const fx = await bound();
    await deleteMachineResolver(fx.ctx, 'reso1');
    expect(await piFailure(list(fx, { serial: 'SSHKEY1' }))).toMatchObject({ status: 404, message: 'The requested MachineResolver could not be found.' });
    expect(await list(fx, { serial: 'OATH1' })).toHaveLength(1);
  });

  it('machine shape: type, no hostname, machine_id/resolver echo the query', async () => {
    const fx = await bound();
    const items = await list(fx, { hostname: 'gandalf' });
    expect(items).toEqual([
      { serial: 'SSHKEY1', machine_id: '192.168.0.1', resolver: 'reso1', type: 'sshkey', application: 'ssh', id: 1, options: { user: 'root' } },
      { serial: 'SSHKEY10', machine_id: '192.168.0.1', resolver: 'reso1', type: 'sshkey', application: 'ssh', id: 2, options: { user: 'admin' } },
    ]);
    const all = await list(fx, {});
    expect(all.map((i) => i.id)).toEqual([4, 1, 3, 5, 2]); // sorted by serial, stable
    for (const item of all) expect(item).toMatchObject({ machine_id: null, resolver: null });
  });

  it('machine shape by machineid + resolver, application, exact serial (unknown serial: [])', async () => {
    const fx = await bound();
    expect((await list(fx, { machineid: '192.168.0.2', resolver: 'reso1' })).map((i) => i.id)).toEqual([3]);
    expect((await list(fx, { application: 'offline' })).map((i) => i.id)).toEqual([4]);
    expect((await list(fx, { serial: 'SSHKEY10', hostname: 'gandalf' })).map((i) => i.id)).toEqual([2]);
    expect(await list(fx, { serial: 'NOPE', hostname: 'gandalf' })).toEqual([]);
    expect(await piFailure(list(fx, { machineid: '192.168.0.2', resolver: 'nosuch' }))).toMatchObject({ status: 500 });
    expect(await piFailure(list(fx, { hostname: 'frodo' }))).toMatchObject({ status: 500 });
  });

  it("serial '*' filters: start-anchored, case-insensitive, unescaped", async () => {
    const fx = await bound();
    expect((await list(fx, { serial: '*KEY1' })).map((i) => i.id)).toEqual([1, 3, 5, 2]);
    expect((await list(fx, { serial: 'sshkey1*' })).map((i) => i.id)).toEqual([1, 3, 5, 2]);
    expect((await list(fx, { serial: '*10' })).map((i) => i.id)).toEqual([2]);
    expect((await list(fx, { serial: 'O.TH*' })).map((i) => i.id)).toEqual([4]);
    expect(await list(fx, { serial: 'KEY*' })).toEqual([]);
  });

  it('option filters: exact and case-sensitive without *, regex with *, "" matches missing, unknown keys exclude', async () => {
    const fx = await bound();
    expect((await list(fx, { user: 'root' })).map((i) => i.id)).toEqual([1]);
    expect((await list(fx, { user: 'ROOT' })).map((i) => i.id)).toEqual([]);
    expect((await list(fx, { user: 'ro*' })).map((i) => i.id)).toEqual([1, 3]);
    expect((await list(fx, { user: '' })).map((i) => i.id)).toEqual([4]);
    expect(await list(fx, { nonce: 'abc' })).toEqual([]);
    expect((await list(fx, { count: 12 })).map((i) => i.id)).toEqual([4]);
  });

  it('a truthy service_id bypasses machine resolution: unknown hostnames are fine', async () => {
    const fx = await bound();
    const items = await list(fx, { hostname: 'nowhere', service_id: 'webservers' });
    expect(items).toEqual([
      { serial: 'SSHKEY1', machine_id: null, resolver: null, type: 'sshkey', application: 'ssh', id: 5, options: { service_id: 'webservers', user: 'web' } },
    ]);
  });

  it('machineid "any machine" clears the machine', async () => {
    const fx = await bound();
    expect(await list(fx, { machineid: 'any machine', resolver: 'whatever', hostname: 'frodo' })).toHaveLength(5);
  });

  it('sorts by serial or an option, code-point order, stable in both directions; ignores page/pagesize', async () => {
    const fx = await bound();
    const order = async (p: Record<string, unknown>) => (await list(fx, p)).map((i) => i.id);
    expect(await order({ sortdir: 'desc' })).toEqual([2, 1, 3, 5, 4]);
    expect(await order({ sortby: 'serial', sortdir: 'DESC' })).toEqual([4, 1, 3, 5, 2]);
    expect(await order({ sortby: 'user' })).toEqual([4, 3, 2, 1, 5]); // "", "Root2", "admin", "root", "web"
    expect(await order({ sortby: 'user', sortdir: 'desc' })).toEqual([5, 1, 2, 3, 4]);
    expect(await order({ sortby: 'id', sortdir: 'desc' })).toEqual([1, 2, 3, 4, 5]); // all "": stable
    expect(await order({ page: 2, pagesize: 1 })).toEqual([4, 1, 3, 5, 2]);
  });

  it('sorts the per-token shape too', async () => {
    const fx = await bound();
    expect((await list(fx, { serial: 'SSHKEY1', sortby: 'user', sortdir: 'desc' })).map((i) => i.id)).toEqual([5, 1, 3]);
  });
});

describe('DELETE /machine/token (§2.4)', () => {
  async function bound(): Promise<Fixture> {
    const fx = await sshFixture();
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf' }); // 1
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf' }); // 2 (duplicate)
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'pippin' }); // 3
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', machineid: 0, resolver: '', user: 'x' }); // 4
    await attach(fx, { serial: 'SSHKEY1', application: 'luks', hostname: 'gandalf' }); // 5
    return fx;
  }
  const remaining = (fx: Fixture) => fx.repo.data.bindings.map((b) => b.id);

  it('by machine: deletes every matching binding and returns the count', async () => {
    const fx = await bound();
    expect(await detachToken(fx.ctx, { serial: 'SSHKEY1', machineid: '192.168.0.1', resolver: 'reso1', application: 'ssh' })).toBe(2);
    expect(remaining(fx)).toEqual([3, 4, 5]);
    expect(await detachToken(fx.ctx, { serial: 'SSHKEY1', machineid: '192.168.0.1', resolver: 'reso1', application: 'ssh' })).toBe(0);
  });

  it('any machine / no resolver wipes every binding of that application on the token', async () => {
    const fx = await bound();
    expect(await detachToken(fx.ctx, { serial: 'SSHKEY1', machineid: 'any machine', resolver: 'no resolver', application: 'ssh' })).toBe(4);
    expect(remaining(fx)).toEqual([5]);
  });

  it('404s an unknown token and a deleted resolver', async () => {
    const fx = await bound();
    expect(await piFailure(detachToken(fx.ctx, { serial: 'NOPE', machineid: 'a', resolver: 'b', application: 'ssh' }))).toMatchObject({ status: 404 });
    await deleteMachineResolver(fx.ctx, 'reso1');
    expect(
      await piFailure(detachToken(fx.ctx, { serial: 'SSHKEY1', machineid: 'any machine', resolver: 'no resolver', application: 'ssh' })),
    ).toMatchObject({ status: 404, message: 'The requested MachineResolver could not be found.' });
    expect(await detachTokenById(fx.ctx, { mtid: '1' })).toBe(1);
  });

  it('by mtid: 1, ignoring serial and application; 500 for a missing or bad mtid', async () => {
    const fx = await bound();
    expect(await detachTokenById(fx.ctx, { serial: 'whatever', application: 'none', mtid: '4' })).toBe(1);
    expect(remaining(fx)).toEqual([1, 2, 3, 5]);
    expect(await piFailure(detachTokenById(fx.ctx, { mtid: '4' }))).toMatchObject({ status: 500, code: -500 });
    expect(await piFailure(detachTokenById(fx.ctx, { mtid: 'abc' }))).toMatchObject({ status: 500 });
  });

  it('dispatches on the number of path segments', async () => {
    const fx = await bound();
    expect(await detachTokenByPath(fx.ctx, ['SSHKEY1', 'ssh', '3'])).toBe(1);
    expect(await detachTokenByPath(fx.ctx, ['SSHKEY1', '192.168.0.1', 'reso1', 'luks'])).toBe(1);
    expect(await piFailure(detachTokenByPath(fx.ctx, ['a', 'b']))).toMatchObject({ status: 404 });
  });

  it('token deletion cascades to its bindings', async () => {
    const fx = await bound();
    await deleteToken(fx.ctx, 'SSHKEY1');
    expect(fx.repo.data.bindings).toEqual([]);
  });
});

describe('POST /machine/tokenoption (§2.5)', () => {
  async function bound(): Promise<Fixture> {
    const fx = await sshFixture();
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf', user: 'root' }); // 1
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', hostname: 'gandalf', user: 'root' }); // 2
    await attach(fx, { serial: 'SSHKEY1', application: 'ssh', machineid: 0, resolver: '' }); // 3 unbound
    return fx;
  }
  const optionsOf = (fx: Fixture, id: number) => fx.repo.data.bindings.find((b) => b.id === id)!.options;

  it('by mtid: truthy values add or update, falsy ones delete; counts are of keys', async () => {
    const fx = await bound();
    expect(await setTokenOptions(fx.ctx, paramsOf({ mtid: 3, user: 'admin', count: 5, serial: 'IGNORED' }))).toEqual({ added: 2, deleted: 0 });
    expect(optionsOf(fx, 3)).toEqual({ user: 'admin', count: '5' });
    expect(await setTokenOptions(fx.ctx, paramsOf({ mtid: '3', user: '', count: 0 }))).toEqual({ added: 0, deleted: 2 });
    expect(optionsOf(fx, 3)).toEqual({});
  });

  it('deleting an option that is not there is a 500', async () => {
    const fx = await bound();
    expect(await piFailure(setTokenOptions(fx.ctx, paramsOf({ mtid: 1, nothere: '' })))).toMatchObject({ status: 500 });
  });

  it('adds before deleting', async () => {
    const fx = await bound();
    expect(await setTokenOptions(fx.ctx, paramsOf({ mtid: 1, user: false, slot: '1' }))).toEqual({ added: 1, deleted: 1 });
    expect(optionsOf(fx, 1)).toEqual({ slot: '1' });
  });

  it('by machine: every row of that token, machine and application; counts stay key counts', async () => {
    const fx = await bound();
    expect(await setTokenOptions(fx.ctx, paramsOf({ hostname: 'gandalf', serial: 'SSHKEY1', application: 'ssh', service_id: 'svc' }))).toEqual({ added: 1, deleted: 0 });
    expect(optionsOf(fx, 1)).toEqual({ user: 'root', service_id: 'svc' });
    expect(optionsOf(fx, 2)).toEqual({ user: 'root', service_id: 'svc' });
    expect(optionsOf(fx, 3)).toEqual({});
    expect(await setTokenOptions(fx.ctx, paramsOf({ hostname: 'gandalf', serial: 'NOPE', application: 'ssh', x: '1' }))).toEqual({ added: 1, deleted: 0 });
    expect(await setTokenOptions(fx.ctx, paramsOf({ hostname: 'gandalf', serial: 'SSHKEY1', x: '1' }))).toEqual({ added: 1, deleted: 0 });
    expect(optionsOf(fx, 1)).not.toHaveProperty('x');
  });

  it('without mtid the machine must resolve (unbound rows only by mtid)', async () => {
    const fx = await bound();
    expect(await piFailure(setTokenOptions(fx.ctx, paramsOf({ serial: 'SSHKEY1', application: 'ssh', user: 'x' })))).toMatchObject({
      status: 500,
      internal: 'Incomplete tuple of machine_id and resolver_name',
    });
  });

  it('an mtid that does not exist changes nothing', async () => {
    const fx = await bound();
    expect(await setTokenOptions(fx.ctx, paramsOf({ mtid: 99, user: 'x' }))).toEqual({ added: 1, deleted: 0 });
    expect(fx.repo.data.bindings).toHaveLength(3);
  });

  it('option keys like __proto__ stay plain data', async () => {
    const fx = await bound();
    await setTokenOptions(fx.ctx, collectParams({ query: 'mtid=3&__proto__=polluted' }));
    expect(Object.getOwnPropertyDescriptor(optionsOf(fx, 3), '__proto__')?.value).toBe('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
