/**
 * Every endpoint of the machine API through HTTP (inject): success shapes as privacyIDEA
 * sends them, error envelopes with their codes, and the bad requests privacyIDEA answers
 * with 500 answered here as 400/404 with the reason.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_A, AGENT_B, HOSTS, SSH_KEY, makeHarness, valueOf, type Harness } from './harness.js';

let h: Harness;

beforeEach(async () => {
  h = await makeHarness();
  h.agents.set(AGENT_A, { agent_id: AGENT_A, ip: '10.0.0.5', port: 9002, meta_data: '{"hostname":"web1"}' });
  h.agents.set(AGENT_B, { agent_id: AGENT_B, ip: '10.0.0.6', port: 9002, hostname: 'db1' });
});
afterEach(async () => h.close());

async function addHostsResolver(name = 'hosts1'): Promise<number> {
  const filename = join(h.dataDir, 'hosts');
  writeFileSync(filename, HOSTS);
  return valueOf(await h.call('POST', `/machineresolver/${name}`, { json: { type: 'hosts', filename } }));
}

async function enroll(json: Record<string, unknown>) {
  return h.call('POST', '/token/init', { json });
}

function expectError(reply: { status: number; body: any }, status: number, code: number, message: string | RegExp) {
  expect(reply.status).toBe(status);
  expect(reply.body.result.status).toBe(false);
  expect(reply.body.result.error.code).toBe(code);
  if (typeof message === 'string') expect(reply.body.result.error.message).toBe(message);
  else expect(reply.body.result.error.message).toMatch(message);
  expect(reply.body).not.toHaveProperty('versionnumber');
}

describe('envelope', () => {
  it('answers success in privacyIDEA form with its headers and sorted keys', async () => {
    const r = await h.call('GET', '/machine/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(Object.keys(r.body)).toEqual(['id', 'jsonrpc', 'result', 'time', 'version', 'versionnumber']);
    expect(r.body).toMatchObject({ id: 1, jsonrpc: '2.0', result: { status: true }, time: 1_700_000_000, version: 'privacyIDEA 3.12' });
  });

  it('answers unknown paths under its prefixes with a privacyIDEA 404, and leaves other paths to the server', async () => {
    expectError(await h.call('GET', '/machine/nothing/here'), 404, 601, 'The requested URL GET /machine/nothing/here was not found on this server.');
    expectError(await h.call('DELETE', '/machine/token/S1/ssh'), 404, 601, /was not found/);
    expectError(await h.call('GET', '/token/init'), 404, 601, /was not found/);
    const other = await h.call('GET', '/elsewhere');
    expect(other.status).toBe(404);
    expect(other.body).toEqual({ code: 404, status: 'Not Found', results: {} });
    expect((await h.call('GET', '/v2.0/agents/')).body.results).toEqual({ uuids: [] });
  });

  it('refuses a malformed JSON body with ERR905', async () => {
    const r = await h.call('POST', '/machine/token', { form: '{"serial":', headers: { 'content-type': 'application/json' } });
    expectError(r, 400, 905, 'ERR905: The request body is not valid JSON.');
  });

  it('reads form bodies and query strings with privacyIDEA\'s second percent-decoding', async () => {
    await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial: 'SA' });
    // %2541 arrives as "%41" after normal decoding and becomes "A" on the second pass.
    expect(valueOf(await h.call('POST', '/machine/token', { form: 'serial=S%2541&application=ssh&resolver=' }))).toBe(1);
    const listed = valueOf(await h.call('GET', '/machine/token?serial=S%2541'));
    expect(listed).toHaveLength(1);
    expect(listed[0].serial).toBe('SA');
    // privacyIDEA's own plugins are decoded once only.
    const once = await h.call('GET', '/machine/token?serial=S%2541', { headers: { 'user-agent': 'privacyidea-cp/3.2' } });
    expectError(once, 404, 601, 'The requested Token could not be found.');
  });

  it('ignores bodies of other content types, as privacyIDEA does', async () => {
    const r = await h.call('POST', '/machine/token', { form: 'serial=X&application=ssh', headers: { 'content-type': 'text/plain' } });
    expectError(r, 400, 905, 'ERR905: Missing parameter: serial');
  });
});

describe('GET /machine/', () => {
  it('lists the verifier agents through the built-in keylime resolver and hosts-file machines', async () => {
    await addHostsResolver();
    const all = valueOf(await h.call('GET', '/machine/'));
    expect(all).toEqual([
      { hostname: ['web1', AGENT_A], ip: '10.0.0.5', resolver_name: 'keylime', id: AGENT_A },
      { hostname: ['db1', AGENT_B], ip: '10.0.0.6', resolver_name: 'keylime', id: AGENT_B },
      { hostname: ['localhost'], ip: '127.0.0.1', resolver_name: 'hosts1', id: '127.0.0.1' },
      { hostname: ['gandalf', 'whitewizard'], ip: '192.168.0.1', resolver_name: 'hosts1', id: '192.168.0.1' },
      { hostname: ['pippin'], ip: '192.168.0.2', resolver_name: 'hosts1', id: '192.168.0.2' },
    ]);
    expect(valueOf(await h.call('GET', '/machine/?hostname=wiz')).map((m: any) => m.id)).toEqual(['192.168.0.1']);
    expect(valueOf(await h.call('GET', '/machine/?ip=10.0.0.6')).map((m: any) => m.id)).toEqual([AGENT_B]);
    expect(valueOf(await h.call('GET', '/machine/?resolver=hosts&any=pip')).map((m: any) => m.id)).toEqual(['192.168.0.2']);
    expect(valueOf(await h.call('GET', '/machine/?id=c00001')).map((m: any) => m.id)).toEqual([AGENT_B]);
    // Also reachable without the trailing slash.
    expect(valueOf(await h.call('GET', '/machine'))).toHaveLength(5);
  });

  it('answers a hosts file with a broken line as a server failure, without leaking the file', async () => {
    const filename = join(h.dataDir, 'bad-hosts');
    writeFileSync(filename, 'not-an-ip   somehost\n');
    valueOf(await h.call('POST', '/machineresolver/broken', { json: { type: 'hosts', filename } }));
    const r = await h.call('GET', '/machine/');
    expectError(r, 500, -500, /^500 Internal Server Error/);
  });
});

describe('/token', () => {
  it('enrols sshkey, hotp, totp and luks tokens with privacyIDEA serials and hides secrets', async () => {
    const ssh = await enroll({ type: 'sshkey', sshkey: SSH_KEY });
    expect(ssh.body.detail.serial).toMatch(/^SSHK0000[0-9A-F]{4}$/);
    const hotp = await enroll({ type: 'hotp', otpkey: '3132333435363738393031323334353637383930', serial: 'OATH1' });
    expect(hotp.body.detail).toMatchObject({ serial: 'OATH1' });
    expect(hotp.body.detail).not.toHaveProperty('otpkey');
    const generated = await enroll({ type: 'totp', genkey: 1 });
    expect(generated.body.detail.serial).toMatch(/^TOTP0000/);
    expect(generated.body.detail.otpkey.value).toMatch(/^seed:\/\/[0-9a-f]{40}$/);
    const luks = await enroll({ type: 'luks', otpkey: '12345678' });
    expect(luks.body.detail.serial).toMatch(/^UBOM/);
    const list = valueOf(await h.call('GET', '/token/'));
    expect(list.count).toBe(4);
    expect(list.tokens.map((t: any) => t.tokentype).sort()).toEqual(['hotp', 'sshkey', 'totp', 'totp']);
    expect(JSON.stringify(list)).not.toMatch(/3132333435|12345678|seed/);
  });

  it('refuses bad enrolments with ERR905', async () => {
    expectError(await enroll({ type: 'hotp' }), 400, 905, 'ERR905: Missing parameter: otpkey (or genkey=1 to generate one)');
    expectError(await enroll({ type: 'hotp', otpkey: 'abcd', genkey: 1 }), 400, 905, 'ERR905: Give either otpkey or genkey=1, not both.');
    expectError(await enroll({ type: 'hotp', otpkey: 'xyz' }), 400, 905, 'ERR905: otpkey must be a non-empty hex string.');
    expectError(await enroll({ type: 'webauthn' }), 400, 905, /^ERR905: Token type webauthn is not supported/);
    expectError(await enroll({ type: 'sshkey' }), 400, 905, 'ERR905: Missing parameter: sshkey');
    expectError(await enroll({ type: 'sshkey', sshkey: 'ssh-dss AAAA' }), 400, 905, 'ERR905: The keytype you specified is not supported.');
    expectError(await enroll({ type: 'hotp', genkey: 1, otplen: 'eight' }), 400, 905, 'ERR905: otplen must be an integer, not eight.');
    await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial: 'DUP' });
    expectError(await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial: 'DUP' }), 400, 905, 'ERR905: A token with serial DUP already exists.');
    expect(valueOf(await h.call('GET', '/token/')).count).toBe(1);
  });

  it('filters with * wildcards, type and user, pages like privacyIDEA and sorts by serial', async () => {
    for (const serial of ['SSH3', 'SSH1', 'SSH2', 'OTHER']) await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial, user: serial === 'SSH2' ? 'alice' : '' });
    await enroll({ type: 'hotp', genkey: 1, serial: 'SSH9' });
    expect(valueOf(await h.call('GET', '/token/?serial=SSH*')).tokens.map((t: any) => t.serial)).toEqual(['SSH1', 'SSH2', 'SSH3', 'SSH9']);
    expect(valueOf(await h.call('GET', '/token/?serial=ssh*&type=sshkey&sortdir=desc')).tokens.map((t: any) => t.serial)).toEqual(['SSH3', 'SSH2', 'SSH1']);
    expect(valueOf(await h.call('GET', '/token/?user=alice')).tokens.map((t: any) => [t.serial, t.username])).toEqual([['SSH2', 'alice']]);
    const page2 = valueOf(await h.call('GET', '/token/?pagesize=2&page=2'));
    expect(page2).toMatchObject({ count: 5, current: 2, next: 3, prev: 1 });
    expect(page2.tokens.map((t: any) => t.serial)).toEqual(['SSH2', 'SSH3']);
    expect(valueOf(await h.call('GET', '/token/?pagesize=2&page=3'))).toMatchObject({ next: null, prev: 2 });
    expectError(await h.call('GET', '/token/?pagesize=0'), 400, 905, /pagesize/);
  });

  it('enables, disables and deletes; a missing serial is a 404, and deleting a token removes its bindings', async () => {
    await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial: 'S1' });
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'web1' } }));
    expect(valueOf(await h.call('POST', '/token/disable', { json: { serial: 'S1' } }))).toBe(1);
    expect(valueOf(await h.call('GET', '/token/?serial=S1')).tokens[0].active).toBe(false);
    expect(valueOf(await h.call('POST', '/token/enable/S1'))).toBe(1);
    expect(valueOf(await h.call('GET', '/token/?serial=S1')).tokens[0].active).toBe(true);
    expectError(await h.call('POST', '/token/disable', { form: 'serial=' }), 400, 905, 'ERR905: Missing parameter: serial');
    expectError(await h.call('POST', '/token/enable/NOPE'), 404, 601, 'Token with serial NOPE does not exist.');
    expect(valueOf(await h.call('DELETE', '/token/S1'))).toBe(1);
    expectError(await h.call('DELETE', '/token/S1'), 404, 601, 'Token with serial S1 does not exist.');
    expect(valueOf(await h.call('GET', '/machine/token'))).toEqual([]);
  });
});

describe('POST /machine/token and GET /machine/token', () => {
  beforeEach(async () => {
    await addHostsResolver();
    for (const serial of ['SSHKEY1', 'SSHKEY10', 'SSHKEY2']) await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial });
  });

  it('attaches by hostname, by machineid + resolver and unbound, keeping other keys as string options', async () => {
    expect(valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1', application: 'ssh', hostname: 'web1', user: 'root', count: 17 } }))).toBe(1);
    expect(valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1', application: 'ssh', machineid: '192.168.0.2', resolver: 'hosts1' } }))).toBe(2);
    expect(valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1', application: 'ssh', machineid: 0, resolver: '', service_id: 'git' } }))).toBe(3);
    const bySerial = valueOf(await h.call('GET', '/machine/token?serial=SSHKEY1'));
    expect(bySerial).toEqual([
      { machine_id: AGENT_A, hostname: 'web1', application: 'ssh', resolver: 'keylime', options: { user: 'root', count: '17' }, id: 1, serial: 'SSHKEY1' },
      { machine_id: '192.168.0.2', hostname: 'pippin', application: 'ssh', resolver: 'hosts1', options: {}, id: 2, serial: 'SSHKEY1' },
      { machine_id: 'any machine', hostname: 'any host', application: 'ssh', resolver: 'no resolver', options: { service_id: 'git' }, id: 3, serial: 'SSHKEY1' },
    ]);
  });

  it('answers the per-machine listing in the other shape (type, the query\'s machine, no hostname)', async () => {
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY2', application: 'ssh', hostname: 'db1', user: 'admin' } }));
    const byHost = valueOf(await h.call('GET', '/machine/token?hostname=db1'));
    expect(byHost).toEqual([{ serial: 'SSHKEY2', machine_id: AGENT_B, resolver: 'keylime', type: 'sshkey', application: 'ssh', id: 1, options: { user: 'admin' } }]);
  });

  it('filters with * (prefix-anchored, case-insensitive), exact option values, and sorts stably in both directions', async () => {
    const attach = (serial: string, slot: string, extra: Record<string, unknown> = {}) =>
      h.call('POST', '/machine/token', { json: { serial, application: 'luks', hostname: 'web1', slot, ...extra } });
    valueOf(await attach('SSHKEY1', '2', { partition: 'a' }));
    valueOf(await attach('SSHKEY10', '1', { partition: 'b' }));
    valueOf(await attach('SSHKEY2', '2', { partition: 'c' }));
    const serials = async (q: string) => valueOf(await h.call('GET', `/machine/token?${q}`)).map((i: any) => i.serial);
    expect(await serials('serial=*key1')).toEqual(['SSHKEY1', 'SSHKEY10']);
    expect(await serials('hostname=web1&slot=2')).toEqual(['SSHKEY1', 'SSHKEY2']);
    expect(await serials('hostname=web1&partition=*')).toEqual(['SSHKEY1', 'SSHKEY10', 'SSHKEY2']);
    expect(await serials('hostname=web1&sortby=slot')).toEqual(['SSHKEY10', 'SSHKEY1', 'SSHKEY2']);
    // desc keeps SSHKEY1 before SSHKEY2 (equal slot): a stable reverse, not .reverse().
    expect(await serials('hostname=web1&sortby=slot&sortdir=desc')).toEqual(['SSHKEY1', 'SSHKEY2', 'SSHKEY10']);
    expect(await serials('serial=SSHKEY*&sortdir=desc')).toEqual(['SSHKEY2', 'SSHKEY10', 'SSHKEY1']);
    expect(await serials('hostname=web1&unknownoption=x')).toEqual([]);
  });

  it('reports the errors privacyIDEA reports, and its 500s as 400/404 with the reason', async () => {
    expectError(await h.call('POST', '/machine/token', { json: { application: 'ssh' } }), 400, 905, 'ERR905: Missing parameter: serial');
    expectError(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1' } }), 400, 905, 'ERR905: Missing parameter: application');
    expectError(await h.call('POST', '/machine/token', { json: { serial: 'NOPE', application: 'ssh', hostname: 'web1' } }), 404, 601, 'Token with serial NOPE does not exist.');
    expectError(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1', application: 'vpn', hostname: 'web1' } }), 400, 905, /^ERR905: Application vpn is not supported/);
    expectError(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1', application: 'ssh', hostname: 'nohost' } }), 404, 601, "There is no machine with name='nohost' and IP=None");
    expectError(await h.call('POST', '/machine/token', { form: 'serial=SSHKEY1&application=ssh&machineid=0' }), 400, 905, 'ERR905: Name the machine with hostname, or with both machineid and resolver.');
    expectError(await h.call('GET', '/machine/token?resolver=missing&machineid=x'), 404, 601, "there is no machine resolver named 'missing'");
    expectError(await h.call('GET', '/machine/token?serial=NOPE'), 404, 601, 'The requested Token could not be found.');
    expect(valueOf(await h.call('GET', '/machine/token?serial=NOPE&application=ssh&x=1'))).toEqual([]);
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'SSHKEY1', application: 'ssh', hostname: 'web1', user: 'root' } }));
    expectError(await h.call('GET', '/machine/token?hostname=web1&user=(a*b['), 400, 905, /^ERR905: /);
  });
});

describe('DELETE /machine/token and POST /machine/tokenoption', () => {
  beforeEach(async () => {
    await enroll({ type: 'sshkey', sshkey: SSH_KEY, serial: 'S1' });
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'web1', user: 'root' } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'db1' } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'offline', resolver: '' } }));
  });

  it('sets options (truthy values) and removes them (falsy values), counting the requested keys', async () => {
    const r = await h.call('POST', '/machine/tokenoption', { json: { serial: 'S1', application: 'ssh', hostname: 'web1', service_id: 'git', user: '' } });
    expect(valueOf(r)).toEqual({ added: 1, deleted: 1 });
    expect(valueOf(await h.call('GET', '/machine/token?serial=S1'))[0].options).toEqual({ service_id: 'git' });
    expect(valueOf(await h.call('POST', '/machine/tokenoption', { form: 'mtid=3&count=12&rounds=1000' }))).toEqual({ added: 2, deleted: 0 });
    expect(valueOf(await h.call('GET', '/machine/token?serial=S1'))[2].options).toEqual({ count: '12', rounds: '1000' });
    expectError(await h.call('POST', '/machine/tokenoption', { json: { mtid: 3, nothere: '' } }), 404, 601, 'There is no option nothere on machinetoken 3');
    expectError(await h.call('POST', '/machine/tokenoption', { json: { serial: 'S1', application: 'ssh', hostname: 'ghost', a: 'b' } }), 404, 601, /no machine with name='ghost'/);
  });

  it('detaches by machine (4 segments), by binding id (3 segments) and everything of an application with any machine/no resolver', async () => {
    expect(valueOf(await h.call('DELETE', `/machine/token/S1/${AGENT_B}/keylime/ssh`))).toBe(1);
    expect(valueOf(await h.call('DELETE', `/machine/token/S1/${AGENT_B}/keylime/ssh`))).toBe(0);
    expect(valueOf(await h.call('DELETE', '/machine/token/S1/ignored/3'))).toBe(1);
    expectError(await h.call('DELETE', '/machine/token/S1/ssh/3'), 404, 601, 'There is no machinetoken with id 3');
    expectError(await h.call('DELETE', `/machine/token/NOPE/${AGENT_A}/keylime/ssh`), 404, 601, 'The requested Token could not be found.');
    expect(valueOf(await h.call('DELETE', '/machine/token/S1/any%20machine/no%20resolver/ssh'))).toBe(1);
    expect(valueOf(await h.call('GET', '/machine/token?serial=S1'))).toEqual([]);
  });

  it('answers 404 for bindings whose machine resolver was deleted, and keeps them addressable by id', async () => {
    await addHostsResolver();
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'pippin' } }));
    expect(valueOf(await h.call('DELETE', '/machineresolver/hosts1'))).toBe(2);
    expectError(await h.call('GET', '/machine/token?serial=S1'), 404, 601, 'The requested MachineResolver could not be found.');
    expect(valueOf(await h.call('DELETE', '/machine/token/S1/ssh/4'))).toBe(1);
    expect(valueOf(await h.call('GET', '/machine/token?serial=S1'))).toHaveLength(3);
  });
});

describe('/machineresolver/ and /application/', () => {
  it('creates, lists, censors passwords, tests and deletes resolvers', async () => {
    expect(await addHostsResolver('h2')).toBe(2);
    expect(valueOf(await h.call('POST', '/machineresolver/ld', { json: { type: 'ldap', LDAPURI: 'ldap://x', BINDPW: 's3cret', 'type.BINDPW': 'password' } }))).toBe(3);
    const all = valueOf(await h.call('GET', '/machineresolver/'));
    // Keys go out sorted, as privacyIDEA emits them.
    expect(Object.keys(all)).toEqual(['h2', 'keylime', 'ld']);
    expect(all.ld.data.BINDPW).toBe('__CENSORED__');
    expect(valueOf(await h.call('GET', '/machineresolver/?type=hosts'))).toEqual({ h2: { resolvername: 'h2', type: 'hosts', data: { filename: join(h.dataDir, 'hosts') } } });
    expect(valueOf(await h.call('GET', '/machineresolver/H2'))).toHaveProperty('h2');
    expect(valueOf(await h.call('GET', '/machineresolver/none'))).toEqual({});
    const test = await h.call('POST', '/machineresolver/test', { json: { type: 'hosts', filename: '/etc/hosts' } });
    expect(valueOf(test)).toBe(false);
    expect(test.body.detail.description).toBe('Not Implemented');
    expectError(await h.call('POST', '/machineresolver/bad name', { json: { type: 'hosts', filename: 'x' } }), 400, 905, /name of the machine resolver is invalid/);
    expectError(await h.call('POST', '/machineresolver/x1', { json: { type: 'nis' } }), 400, 905, /^ERR905: machine resolver type nis not in/);
    expectError(await h.call('POST', '/machineresolver/h2', { json: { type: 'ldap' } }), 400, 905, 'ERR905: Can not change the type of a machine resolver');
    expect(valueOf(await h.call('DELETE', '/machineresolver/ld'))).toBe(3);
    expectError(await h.call('DELETE', '/machineresolver/ld'), 404, 601, /ld/);
  });

  it('lists the applications and their options', async () => {
    const apps = valueOf(await h.call('GET', '/application/'));
    expect(Object.keys(apps).sort()).toEqual(['luks', 'offline', 'ssh']);
    expect(apps.luks.options.totp.slot.value).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
