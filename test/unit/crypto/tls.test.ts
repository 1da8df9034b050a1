import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { initCa, issueCertificate, readTlsMaterial, type TlsMaterial } from '../../../src/crypto/ca.js';
import { selfSignedServerCert } from '../../../src/crypto/self-signed.js';
import { tempDir } from './openssl.js';

/**
 * Real handshakes over loopback: the verifier/registrar side (server cert, client certs
 * required and checked against cacert.crt), the tenant side (client cert), and a
 * client cert from someone else's CA that must be refused.
 */
const root = tempDir('klts-tls-');
let server: Server;
let port: number;
let material: TlsMaterial;
let client: TlsMaterial;
let stranger: TlsMaterial;
let extraClient: TlsMaterial;

beforeAll(async () => {
  await Promise.all([initCa(join(root, 'cv_ca')), initCa(join(root, 'other_ca'))]);
  await issueCertificate(join(root, 'cv_ca'), { kind: 'client', name: 'tenant2' });
  material = readTlsMaterial(join(root, 'cv_ca'), 'server');
  client = readTlsMaterial(join(root, 'cv_ca'), 'client');
  extraClient = readTlsMaterial(join(root, 'cv_ca'), 'tenant2');
  stranger = readTlsMaterial(join(root, 'other_ca'), 'client');
  server = createServer({ cert: material.cert, key: material.key, ca: material.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (s) => {
    s.end(`hello ${s.getPeerCertificate().subject.CN}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

interface TalkOptions {
  cert?: string;
  key?: string;
  ca: string;
  port?: number;
  /** SNI and the name checked; without it Node checks 127.0.0.1 against the IP SANs. */
  servername?: string;
  /** Keylime's Python clients set check_hostname=False. */
  skipHostnameCheck?: boolean;
}

function talk(opts: TalkOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock: TLSSocket = connect({
      host: '127.0.0.1',
      port: opts.port ?? port,
      cert: opts.cert,
      key: opts.key,
      ca: opts.ca,
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.skipHostnameCheck ? { checkServerIdentity: () => undefined } : {}),
    });
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (data += d));
    sock.on('end', () => (data ? resolve(data) : reject(new Error('closed without data'))));
    sock.on('error', reject);
  });
}

describe('mTLS with the generated CA', () => {
  it('a client with the CA client cert completes the handshake and the server sees its CN', async () => {
    await expect(talk({ cert: client.cert, key: client.key, ca: material.ca, servername: 'localhost' })).resolves.toBe('hello client');
  });

  it('an issued extra client cert is accepted too', async () => {
    await expect(talk({ cert: extraClient.cert, key: extraClient.key, ca: material.ca })).resolves.toBe('hello tenant2');
  });

  it('the server cert passes hostname checks for localhost and 127.0.0.1', async () => {
    await expect(talk({ cert: client.cert, key: client.key, ca: material.ca, servername: 'localhost' })).resolves.toBe('hello client');
    await expect(talk({ cert: client.cert, key: client.key, ca: material.ca })).resolves.toBe('hello client');
    await expect(talk({ cert: client.cert, key: client.key, ca: material.ca, servername: 'elsewhere.example' })).rejects.toThrow(/altnames|Hostname/i);
  });

  it('a client cert from a second CA is refused by the server', async () => {
    const refusal = once(server, 'tlsClientError');
    await expect(talk({ cert: stranger.cert, key: stranger.key, ca: material.ca })).rejects.toThrow();
    await refusal;
  });

  it('a client without a cert is refused by the server', async () => {
    const refusal = once(server, 'tlsClientError');
    await expect(talk({ ca: material.ca })).rejects.toThrow();
    await refusal;
  });

  it('the refusal is about the chain: the stranger\'s issuer is not our CA (same CA name, different key)', async () => {
    // Same server setup, but reporting instead of rejecting, to see why.
    const reporting = createServer({ cert: material.cert, key: material.key, ca: material.ca, requestCert: true, rejectUnauthorized: false }, (s) =>
      s.end(String(s.authorizationError ?? 'authorized')),
    );
    await new Promise<void>((r) => reporting.listen(0, '127.0.0.1', r));
    const p = (reporting.address() as AddressInfo).port;
    try {
      await expect(talk({ cert: stranger.cert, key: stranger.key, ca: material.ca, port: p })).resolves.toMatch(/^UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)$/);
      await expect(talk({ cert: client.cert, key: client.key, ca: material.ca, port: p })).resolves.toBe('authorized');
    } finally {
      await new Promise((r) => reporting.close(r));
    }
  });

  it('a client trusting only the other CA refuses our server', async () => {
    await expect(talk({ cert: client.cert, key: client.key, ca: stranger.ca })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
  });
});

describe('agent server with a self-signed cert, pinned by the verifier', () => {
  it('the verifier trusts the CA plus the agent cert and the handshake succeeds both ways', async () => {
    const agent = await selfSignedServerCert({ commonName: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000', hosts: ['127.0.0.1'] });
    const agentServer = createServer({ cert: agent.certPem, key: agent.keyPem, ca: material.ca, requestCert: true, rejectUnauthorized: true }, (s) =>
      s.end(`agent sees ${s.getPeerCertificate().subject.CN}`),
    );
    await new Promise<void>((r) => agentServer.listen(0, '127.0.0.1', r));
    const agentPort = (agentServer.address() as AddressInfo).port;
    try {
      // Keylime verifier: trust = cacert.crt + the agent's registered mtls_cert; hostname not checked.
      await expect(talk({ cert: client.cert, key: client.key, ca: material.ca + agent.certPem, port: agentPort, skipHostnameCheck: true })).resolves.toBe('agent sees client');
      await expect(talk({ cert: client.cert, key: client.key, ca: material.ca, port: agentPort })).rejects.toThrow();
      await expect(talk({ cert: stranger.cert, key: stranger.key, ca: agent.certPem, port: agentPort })).rejects.toThrow();
    } finally {
      await new Promise((r) => agentServer.close(r));
    }
  });
});
