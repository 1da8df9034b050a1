/**
 * Robustness at the HTTP edge: random requests under the machine API prefixes always get
 * a privacyIDEA envelope (never a crash, a hang or a Keylime envelope), and concurrent
 * requests neither share offline counters nor enrol one serial twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_A, SSH_KEY, makeHarness, seededRandom, valueOf, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await makeHarness();
  h.agents.set(AGENT_A, { agent_id: AGENT_A, ip: '10.0.0.5', meta_data: '{"hostname":"web1"}' });
  valueOf(await h.call('POST', '/token/init', { json: { type: 'sshkey', sshkey: SSH_KEY, serial: 'S1' } }));
  valueOf(await h.call('POST', '/token/init', { json: { type: 'hotp', otpkey: '3132333435363738393031323334353637383930', serial: 'OATH1' } }));
  valueOf(await h.call('POST', '/token/init', { json: { type: 'luks', otpkey: '0011', serial: 'UBOM1' } }));
  valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'web1' } }));
  valueOf(await h.call('POST', '/machine/token', { json: { serial: 'OATH1', application: 'offline', hostname: 'web1', count: 3, rounds: 5 } }));
  valueOf(await h.call('POST', '/machine/token', { json: { serial: 'UBOM1', application: 'luks', hostname: 'web1' } }));
});
afterAll(async () => h.close());

const ROUTES: ReadonlyArray<readonly ['GET' | 'POST' | 'DELETE', string]> = [
  ['GET', '/machine/'],
  ['POST', '/machine/token'],
  ['GET', '/machine/token'],
  ['POST', '/machine/tokenoption'],
  ['GET', '/machine/authitem'],
  ['GET', '/machine/authitem/ssh'],
  ['GET', '/machine/authitem/luks'],
  ['GET', '/machine/authitem/offline'],
  ['DELETE', '/machine/token/S1/ssh/1'],
  ['DELETE', '/machine/token/S1/x/keylime/ssh'],
  ['GET', '/machineresolver/'],
  ['GET', '/machineresolver/r1'],
  ['POST', '/machineresolver/r1'],
  ['POST', '/machineresolver/test'],
  ['GET', '/token/'],
  ['POST', '/token/init'],
  ['DELETE', '/token/S9'],
  ['POST', '/token/enable'],
  ['POST', '/token/disable/S9'],
  ['GET', '/application/'],
  ['POST', '/validate/offlinerefill'],
  ['GET', '/machine/nothing'],
];
const KEYS = ['serial', 'hostname', 'application', 'machineid', 'resolver', 'challenge', 'user', 'service_id', 'mtid', 'type', 'otpkey', 'genkey', 'sshkey', 'count', 'rounds', 'slot', 'sortby', 'sortdir', 'page', 'pagesize', 'filename', 'refilltoken', 'pass', 'nonce', '__proto__', 'constructor'];
const VALUES = ['', 'S1', 'OATH1', 'UBOM1', 'web1', 'ssh', 'luks', 'offline', 'keylime', AGENT_A, '*', '(a*)*b[', '0', '-1', '99999999999', 'abc', 'abcdef', '%41', '%zz', '\u0000', '\ud800', 'é', 'x'.repeat(300), '/dev/null'];

describe('random requests', () => {
  it('always answer a privacyIDEA envelope, and request mistakes are never 500s', async () => {
    const random = seededRandom('fuzz');
    const pick = <T>(list: readonly T[]): T => list[random(2).readUInt16BE(0) % list.length]!;
    // Lone surrogates cannot be URI-encoded: they go out as the bytes of an invalid UTF-8 sequence.
    const enc = (s: string) => {
      const raw = s.replace(/[\ud800-\udfff]/g, '%ED%A0%80');
      return random(1)[0]! < 128 && raw === s ? encodeURIComponent(s) : raw.replace(/[&=#?\s]/g, '');
    };
    let served = 0;
    for (let i = 0; i < 1500; i++) {
      const [routeMethod, path] = pick(ROUTES);
      const method = random(1)[0]! < 25 ? pick(['GET', 'POST', 'DELETE'] as const) : routeMethod;
      const pairs = Array.from({ length: random(1)[0]! % 5 }, () => [pick(KEYS), pick(VALUES)] as const);
      const query = pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
      const shape = random(1)[0]! % 4;
      const body =
        method === 'GET' || shape === 0
          ? {}
          : shape === 1
            ? { json: Object.fromEntries(pairs.map(([k, v]) => [k, random(1)[0]! < 40 ? Number(v.length) : v])) }
            : shape === 2
              ? { form: query }
              : { form: random(random(1)[0]!).toString('latin1'), headers: { 'content-type': pick(['application/json', 'application/x-www-form-urlencoded', 'text/plain']) } };
      const url = `${path}${method === 'GET' || shape === 0 ? `?${query}` : ''}`;
      let r;
      try {
        r = await h.call(method, url, body);
      } catch {
        continue; // inject refused to build the request (e.g. an invalid header value)
      }
      served++;
      expect(r.body, `${method} ${url} -> ${r.status} ${r.text}`).toMatchObject({ jsonrpc: '2.0', result: { status: expect.any(Boolean) } });
      expect([200, 400, 403, 404], `${method} ${url} ${JSON.stringify(body)} -> ${r.text}`).toContain(r.status);
    }
    expect(served).toBeGreaterThan(1200);
    // Whatever happened, the store is still consistent and served.
    expect(valueOf(await h.call('GET', '/machine/authitem/ssh?hostname=web1')).ssh?.length ?? 0).toBeGreaterThanOrEqual(0);
  });
});

describe('concurrency', () => {
  it('never hands the same offline counters to two concurrent requests', async () => {
    const before = valueOf(await h.call('GET', '/token/?serial=OATH1')).tokens[0].count;
    const answers = await Promise.all(Array.from({ length: 6 }, () => h.call('GET', '/machine/authitem/offline?hostname=web1')));
    const counters = answers.flatMap((a) => Object.keys(valueOf(a).offline[0].response).map(Number));
    expect(new Set(counters).size).toBe(18);
    expect(Math.min(...counters)).toBe(before);
    expect(Math.max(...counters)).toBe(before + 17);
    expect(valueOf(await h.call('GET', '/token/?serial=OATH1')).tokens[0].count).toBe(before + 18);
  });

  it('enrols a serial once when many ask at the same moment', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => h.call('POST', '/token/init', { json: { type: 'sshkey', sshkey: SSH_KEY, serial: 'RACE' } })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400)).toHaveLength(7);
    expect(valueOf(await h.call('GET', '/token/?serial=RACE')).count).toBe(1);
  });
});
