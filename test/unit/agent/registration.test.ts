import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { registerAndActivate, type RegistrationIdentity } from '../../../src/servers/agent/registration.js';
import { freePort } from '../../support/swtpm.js';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: unknown;
}

type Handler = (req: Seen) => { status: number; body?: unknown } | undefined;

const identity: RegistrationIdentity = {
  agentId: 'agent-1',
  akPublic: Buffer.from('ak'),
  ekPublic: Buffer.from('ek'),
  ekCert: null,
  mtlsCertPem: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n',
  contactIp: '10.0.0.7',
  contactPort: 9002,
};
const secret = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345');
const blob = Buffer.from('credential blob').toString('base64');

/** A scripted registrar: answers per request, records what it was sent. */
async function fakeRegistrar(handler: Handler): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, contentType: req.headers['content-type'], body: text ? JSON.parse(text) : undefined };
      seen.push(s);
      const out = handler(s) ?? { status: 404 };
      res.writeHead(out.status, out.body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(out.body === undefined ? '' : JSON.stringify(out.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen, server };
}

const env = (code: number, status: string, results: unknown = {}) => ({ code, status, results });
const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function run(handler: Handler, extra: { backoff?: { initialDelayMs: number; maxRetries: number; maxDelayMs: number } } = {}) {
  const reg = await fakeRegistrar(handler);
  servers.push(reg.server);
  const sleeps: number[] = [];
  const activations: Buffer[] = [];
  const result = registerAndActivate({
    registrarUrl: reg.url,
    identity,
    activate: async (b) => {
      activations.push(b);
      return secret;
    },
    backoff: extra.backoff ?? { initialDelayMs: 10, maxRetries: 3, maxDelayMs: 15 },
    sleep: async (ms) => void sleeps.push(ms),
    log: silentLogger,
  });
  return { result, seen: reg.seen, sleeps, activations };
}

describe('registration with the registrar', () => {
  it('negotiates through /version, posts exactly the §12.1 body as JSON, and activates with the auth_tag', async () => {
    const r = await run((req) => {
      if (req.url === '/version') return { status: 200, body: env(200, 'Success', { current_version: '2.5', supported_versions: ['1.0', '2.0', '2.1', '2.2', '2.5'] }) };
      if (req.method === 'POST' && req.url === '/v2.2/agents/agent-1') return { status: 200, body: env(200, 'Success', { blob }) };
      if (req.method === 'PUT' && req.url === '/v2.2/agents/agent-1/activate') return { status: 200, body: env(200, 'Success') };
      return undefined;
    });
    expect(await r.result).toEqual({ version: '2.2', attempts: 1 });
    const post = r.seen.find((s) => s.method === 'POST')!;
    expect(post.contentType).toBe('application/json');
    expect(post.body).toEqual({
      aik_tpm: Buffer.from('ak').toString('base64'),
      ek_tpm: Buffer.from('ek').toString('base64'),
      ekcert: null,
      mtls_cert: identity.mtlsCertPem,
      ip: '10.0.0.7',
      port: 9002,
    });
    expect(Object.keys(post.body as object)).toEqual(['aik_tpm', 'ek_tpm', 'ekcert', 'mtls_cert', 'ip', 'port']);
    expect(r.activations[0]!.toString()).toBe('credential blob');
    // §14: mackey = b64(certInfo), auth_tag = HMAC-SHA384(mackey, id).
    const put = r.seen.find((s) => s.method === 'PUT')!;
    expect(put.body).toEqual({ auth_tag: createHmac('sha384', secret.toString('base64')).update('agent-1').digest('hex') });
  });

  it('uses the registrar current_version when this agent speaks it', async () => {
    const r = await run((req) => {
      if (req.url === '/version') return { status: 200, body: env(200, 'Success', { current_version: '2.1', supported_versions: ['2.1'] }) };
      if (req.url.startsWith('/v2.1/')) return { status: 200, body: env(200, 'Success', { blob }) };
      return undefined;
    });
    expect((await r.result).version).toBe('2.1');
  });

  it('without /version, tries its versions newest first until one is accepted', async () => {
    const r = await run((req) => {
      if (req.url.startsWith('/v2.2/')) return { status: 400, body: env(400, 'API Version not supported') };
      if (req.url.startsWith('/v2.1/')) return { status: 200, body: env(200, 'Success', { blob }) };
      return undefined;
    });
    expect((await r.result).version).toBe('2.1');
    expect(r.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /version',
      'POST /v2.2/agents/agent-1',
      'POST /v2.1/agents/agent-1',
      'PUT /v2.1/agents/agent-1/activate',
    ]);
  });

  it('stops at once with the reason on 403', async () => {
    const reason = "Agent re-registration with different TPM identity is forbidden for security reasons";
    const r = await run((req) => (req.method === 'POST' ? { status: 403, body: env(403, reason) } : undefined));
    await expect(r.result).rejects.toMatchObject({ code: 'forbidden', message: `the registrar refused agent agent-1: ${reason} (HTTP 403)` });
    expect(r.sleeps).toEqual([]);
  });

  it('stops when the registrar speaks none of our versions', async () => {
    const r = await run(() => ({ status: 200, body: env(200, 'Success', { current_version: '2.0', supported_versions: ['1.0', '2.0'] }) }));
    await expect(r.result).rejects.toThrow(/speaks API versions 1.0, 2.0, this agent only 2.1, 2.2/);
    expect(r.sleeps).toEqual([]);
  });

  it('retries server errors and failed activations with doubling delays capped at the maximum', async () => {
    let posts = 0;
    const r = await run((req) => {
      if (req.method === 'POST') return ++posts <= 2 ? { status: 500, body: env(500, 'boom') } : { status: 200, body: env(200, 'Success', { blob }) };
      if (req.method === 'PUT') return posts === 3 ? { status: 400, body: env(400, 'Auth tag mismatch') } : { status: 200, body: env(200, 'Success') };
      return undefined;
    });
    expect(await r.result).toEqual({ version: '2.2', attempts: 4 });
    expect(r.sleeps).toEqual([10, 15, 15]);
  });

  it('gives up after the last retry when the registrar cannot be reached', async () => {
    const port = await freePort();
    const sleeps: number[] = [];
    await expect(
      registerAndActivate({
        registrarUrl: `http://127.0.0.1:${port}`,
        identity,
        activate: async () => secret,
        backoff: { initialDelayMs: 1, maxRetries: 2, maxDelayMs: 100 },
        sleep: async (ms) => void sleeps.push(ms),
        log: silentLogger,
      }),
    ).rejects.toMatchObject({ code: 'unreachable' });
    expect(sleeps).toEqual([1, 2]);
  });

  it('stops waiting between retries when aborted', async () => {
    const port = await freePort();
    const controller = new AbortController();
    const started = Date.now();
    const run = registerAndActivate({
      registrarUrl: `http://127.0.0.1:${port}`,
      identity,
      activate: async () => secret,
      backoff: { initialDelayMs: 60_000, maxRetries: 5, maxDelayMs: 60_000 },
      signal: controller.signal,
      log: silentLogger,
    });
    setTimeout(() => controller.abort(), 100);
    await expect(run).rejects.toThrow('registration stopped');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
