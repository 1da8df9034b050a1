import { describe, expect, it } from 'vitest';
import { listMachines, paramsOf, setMachineResolver } from '../../../src/machines/index.js';
import { addHostsResolver, makeFixture, piFailure } from './fixture.js';

const ids = (items: Array<{ id: string }>) => items.map((m) => m.id);

describe('GET /machine/ (§2.1)', () => {
  it('is [] without resolvers', async () => {
    expect(await listMachines(makeFixture().ctx, paramsOf({}))).toEqual([]);
  });

  it('lists every machine in file order with hostname arrays', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx);
    const all = await listMachines(fx.ctx, paramsOf({}));
    expect(all).toHaveLength(5);
    expect(all[1]).toEqual({ hostname: ['gandalf', 'whitewizard'], ip: '192.168.0.1', resolver_name: 'reso1', id: '192.168.0.1' });
  });

  it('filters hostname and id as case-sensitive substrings, ip exactly', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx);
    const list = (p: Record<string, unknown>) => listMachines(fx.ctx, paramsOf(p)).then(ids);
    expect(await list({ hostname: 'gandalf' })).toEqual(['192.168.0.1', '192.168.10.10']);
    expect(await list({ hostname: 'Gandalf' })).toEqual([]);
    expect(await list({ id: '192.168.0' })).toEqual(['192.168.0.1', '192.168.0.2']);
    expect(await list({ ip: '192.168.0.1' })).toEqual(['192.168.0.1']);
    expect(await list({ ip: '192.168.0' })).toHaveLength(5); // unparseable: filter dropped
    expect(await list({ hostname: '' })).toHaveLength(5); // falsy: no filter
  });

  it('filters by resolver-name substring and `any` over id, hostnames and ip, ANDed', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx, 'reso1');
    fx.files.set('/etc/other', '10.0.0.1 wizard-box\n');
    await addHostsResolver(fx, 'other', '/etc/other');
    const list = (p: Record<string, unknown>) => listMachines(fx.ctx, paramsOf(p));
    expect((await list({})).map((m) => m.resolver_name)).toEqual(['reso1', 'reso1', 'reso1', 'reso1', 'reso1', 'other']);
    expect(ids(await list({ resolver: 'oth' }))).toEqual(['10.0.0.1']);
    expect(await list({ resolver: 'nope' })).toEqual([]);
    expect(ids(await list({ any: 'wizard' }))).toEqual(['192.168.0.1', '10.0.0.1']);
    expect(ids(await list({ any: 'wizard', resolver: 'reso' }))).toEqual(['192.168.0.1']);
    expect(ids(await list({ any: '10.10' }))).toEqual(['192.168.10.10']);
  });

  it('fails with 500 when a hosts file is unreadable or holds an invalid IP', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx, 'gone', '/etc/missing');
    expect(await piFailure(listMachines(fx.ctx, paramsOf({})))).toMatchObject({ status: 500, code: -500 });
    fx.files.set('/etc/missing', 'not-an-ip host\n');
    expect(await piFailure(listMachines(fx.ctx, paramsOf({})))).toMatchObject({ status: 500, code: -500 });
  });

  it('lists keylime agents as machines', async () => {
    const fx = makeFixture();
    fx.agents.push({ agentId: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000', ip: '127.0.0.1', metadata: '{"hostname":"node1"}' });
    await setMachineResolver(fx.ctx, 'keylime', paramsOf({ type: 'keylime' }));
    expect(await listMachines(fx.ctx, paramsOf({ hostname: 'node' }))).toEqual([
      { hostname: ['node1'], ip: '127.0.0.1', resolver_name: 'keylime', id: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000' },
    ]);
  });

  it('an ldap resolver contributes no machines (a failed LDAP search gives [])', async () => {
    const fx = makeFixture();
    await setMachineResolver(fx.ctx, 'dir', paramsOf({ type: 'ldap', LDAPURI: 'ldap://x', LDAPBASE: 'dc=x' }));
    await addHostsResolver(fx);
    expect(await listMachines(fx.ctx, paramsOf({}))).toHaveLength(5);
  });

  it('reads each hosts file once per request', async () => {
    const fx = makeFixture();
    await addHostsResolver(fx);
    await listMachines(fx.ctx, paramsOf({}));
    expect(fx.hostsReads()).toBe(1);
  });
});
