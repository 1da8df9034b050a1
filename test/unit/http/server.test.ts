import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/client/http.js';
import { KeylimeError } from '../../../src/errors.js';
import { createServer, listen } from '../../../src/servers/http/server.js';
import { success } from '../../../src/servers/http/envelope.js';
import { makeTestPki, type TestPki } from '../../support/certs.js';

function buildServer(pki: TestPki | undefined, clientAuth: 'required' | 'optional' = 'required'): FastifyInstance {
  return createServer({
    name: 'test',
    tls: pki ? { cert: pki.serverCert, key: pki.serverKey, ca: [pki.ca], clientAuth } : undefined,
    bodyLimit: 1024,
    versions: ['2.0', '2.1'],
    versionInfo: () => ({ current_version: '2.1', supported_versions: ['2.0', '2.1'] }),
    routes: (scope, version) => {
      scope.get('/ping', async () => success({ version }));
      scope.post(
        '/things/:id',
        { schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } },
        async (req) => success({ got: (req.body as { name: string }).name }),
      );
      scope.get('/fail', async () => {
        throw new KeylimeError('not_found', "Agent with ID 'x' not found");
      });
    },
  });
}

describe('createServer with required mTLS', () => {
  const pki = makeTestPki('main');
  const other = makeTestPki('other');
  let app: FastifyInstance;
  let port: number;
  const clients: HttpClient[] = [];
  const client = (tls: ConstructorParameters<typeof HttpClient>[1]['tls']) => {
    const c = new HttpClient(`https://127.0.0.1:${port}`, { name: 'test server', tls, retry: { retryInterval: 0, maxRetries: 0, exponentialBackoff: false } });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    app = buildServer(pki, 'required');
    port = await listen(app, '127.0.0.1', 0);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await app.close();
  });

  it('answers a client holding a certificate from the CA, on every version prefix', async () => {
    const c = client({ ca: [pki.ca], cert: pki.clientCert, key: pki.clientKey });
    for (const v of ['2.0', '2.1']) {
      const r = await c.get(`/v${v}/ping`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ code: 200, status: 'Success', results: { version: v } });
    }
  });

  it('refuses a client without a certificate', async () => {
    const c = client({ ca: [pki.ca] });
    await expect(c.get('/v2.1/ping')).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('refuses a client whose certificate comes from another CA', async () => {
    const c = client({ ca: [pki.ca], cert: other.clientCert, key: other.clientKey });
    await expect(c.get('/v2.1/ping')).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('answers /version', async () => {
    const c = client({ ca: [pki.ca], cert: pki.clientCert, key: pki.clientKey });
    const r = await c.get('/version');
    expect(r.body?.results).toEqual({ current_version: '2.1', supported_versions: ['2.0', '2.1'] });
  });
});

describe('createServer envelopes (inject)', () => {
  const app = buildServer(undefined);
  afterAll(() => app.close());

  it('malformed JSON -> 400 envelope', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2.1/things/a', payload: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({ code: 400, status: 'Malformed JSON in request body', results: {} });
  });

  it('a schema failure names the field', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2.1/things/a', payload: { name: 5 } });
    expect(r.statusCode).toBe(400);
    expect(r.json().status).toContain("'name'");
    const missing = await app.inject({ method: 'POST', url: '/v2.1/things/a', payload: {} });
    expect(missing.json().status).toContain("'name'");
  });

  it('parses a JSON body that arrives without a Content-Type', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2.1/things/a', payload: Buffer.from('{"name":"x"}') });
    expect(r.json()).toMatchObject({ code: 200, results: { got: 'x' } });
  });

  it('oversized body -> 413 envelope', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2.1/things/a', payload: { name: 'x'.repeat(5000) } });
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({ code: 413, results: {} });
  });

  it('unknown version -> 400 "API version not supported: v9.9"', async () => {
    const r = await app.inject({ method: 'GET', url: '/v9.9/x' });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toEqual({ code: 400, status: 'API version not supported: v9.9', results: {} });
  });

  it('KeylimeError -> its status in the envelope; unknown path -> 404 envelope', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2.1/fail' });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({ code: 404, status: "Agent with ID 'x' not found", results: {} });
    const nf = await app.inject({ method: 'GET', url: '/v2.1/nothing' });
    expect(nf.json()).toMatchObject({ code: 404, results: {} });
  });

  it('with optional client auth, routes without a verified certificate get 403 but /version is public', async () => {
    // inject() has no TLS socket, so it is exactly a caller without a certificate.
    const optional = buildServer(makeTestPki('optional'), 'optional');
    const r = await optional.inject({ method: 'GET', url: '/v2.1/ping' });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe(403);
    const v = await optional.inject({ method: 'GET', url: '/version' });
    expect(v.statusCode).toBe(200);
    await optional.close();
  });
});
