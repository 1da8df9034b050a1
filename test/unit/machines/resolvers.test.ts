import { describe, expect, it } from 'vitest';
import {
  CENSORED,
  deleteMachineResolver,
  listMachineResolvers,
  paramsOf,
  resolverConfigValue,
  setMachineResolver,
  testMachineResolver,
} from '../../../src/machines/index.js';
import { makeFixture, piFailure } from './fixture.js';

describe('/machineresolver/ (§2.7)', () => {
  it('creates (first id 1), updates in place, lists and deletes', async () => {
    const fx = makeFixture();
    expect(await setMachineResolver(fx.ctx, 'reso1', paramsOf({ type: 'hosts', filename: '/etc/hosts' }))).toBe(1);
    expect(await setMachineResolver(fx.ctx, 'reso1', paramsOf({ type: 'hosts', filename: '/etc/other', extra: 5 }))).toBe(1);
    expect(await setMachineResolver(fx.ctx, 'agents', paramsOf({ type: 'keylime' }))).toBe(2);
    expect(await listMachineResolvers(fx.ctx, paramsOf({}))).toEqual({
      reso1: { resolvername: 'reso1', type: 'hosts', data: { filename: '/etc/other', extra: '5' } },
      agents: { resolvername: 'agents', type: 'keylime', data: {} },
    });
    expect(Object.keys(await listMachineResolvers(fx.ctx, paramsOf({ type: 'keylime' })))).toEqual(['agents']);
    expect(Object.keys(await listMachineResolvers(fx.ctx, paramsOf({}), 'RESO1'))).toEqual(['reso1']);
    expect(await listMachineResolvers(fx.ctx, paramsOf({}), 'nope')).toEqual({});
    expect(await deleteMachineResolver(fx.ctx, 'reso1')).toBe(1);
    expect(await piFailure(deleteMachineResolver(fx.ctx, 'reso1'))).toMatchObject({ status: 404, code: 601 });
  });

  it('refuses bad names, unknown types and type changes with 500', async () => {
    const fx = makeFixture();
    expect(await piFailure(setMachineResolver(fx.ctx, 'bad name', paramsOf({ type: 'hosts' })))).toMatchObject({ status: 500 });
    expect(await piFailure(setMachineResolver(fx.ctx, 'r', paramsOf({ type: 'nis' })))).toMatchObject({ status: 500 });
    expect(await piFailure(setMachineResolver(fx.ctx, 'r', paramsOf({})))).toMatchObject({ status: 500 });
    await setMachineResolver(fx.ctx, 'r', paramsOf({ type: 'hosts', filename: 'x' }));
    expect(await piFailure(setMachineResolver(fx.ctx, 'r', paramsOf({ type: 'ldap' })))).toMatchObject({ status: 500 });
  });

  it('types and descriptions; password values are sealed, censored, and kept on __CENSORED__', async () => {
    const fx = makeFixture();
    await setMachineResolver(
      fx.ctx,
      'dir',
      paramsOf({ type: 'ldap', LDAPURI: 'ldap://x', BINDPW: 'secret', 'type.BINDPW': 'password', 'desc.LDAPURI': 'server' }),
    );
    const stored = fx.repo.data.resolvers[0]!.config;
    expect(stored.LDAPURI).toEqual({ value: 'ldap://x', type: '', description: 'server' });
    expect(stored.BINDPW!.type).toBe('password');
    expect(stored.BINDPW!.value).not.toContain('secret');
    expect((await listMachineResolvers(fx.ctx, paramsOf({}))).dir!.data).toEqual({ LDAPURI: 'ldap://x', BINDPW: CENSORED });
    await setMachineResolver(fx.ctx, 'dir', paramsOf({ type: 'ldap', BINDPW: CENSORED }));
    expect(resolverConfigValue(fx.ctx, fx.repo.data.resolvers[0]!, 'BINDPW')).toBe('secret');
    await setMachineResolver(fx.ctx, 'dir', paramsOf({ type: 'ldap', BINDPW: 'new' }));
    expect(resolverConfigValue(fx.ctx, fx.repo.data.resolvers[0]!, 'BINDPW')).toBe('new');
    expect(await piFailure(setMachineResolver(fx.ctx, 'dir', paramsOf({ type: 'ldap', 'type.X': 'string' })))).toMatchObject({ status: 500 });
  });

  it('test: "Not Implemented" for hosts, agent count for keylime', async () => {
    const fx = makeFixture();
    fx.agents.push({ agentId: 'a' }, { agentId: 'b' });
    expect(await testMachineResolver(fx.ctx, paramsOf({ type: 'hosts', filename: '/x' }))).toEqual({ value: false, detail: { description: 'Not Implemented' } });
    expect(await testMachineResolver(fx.ctx, paramsOf({ type: 'keylime' }))).toEqual({ value: true, detail: { description: '2 machines found' } });
  });
});
