import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { generateKeyPairSync } from 'node:crypto';
import { signDsseEnvelope } from '../../../src/ima/index.js';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';
import { runCliAsync } from '../../support/cli.js';
import { freePort } from '../../support/swtpm.js';
import { newTpm, startAgent, startStack, type Stack } from '../verifier/stack.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';

/**
 * `keylime-ts tenant ...` as an operator runs it, against our registrar, verifier and
 * agents on real swtpm instances.
 */
let stack: Stack;
let verifier: RunningVerifier;
let agent: RunningAgent;
let tenantFlags: string[];
let certStore: string;

beforeAll(async () => {
  stack = await startStack();
  verifier = await startVerifier({ host: '127.0.0.1', port: 0, dataDir: join(stack.dir, 'verifier'), certDir: stack.caDir, quoteIntervalSeconds: 1, logger: silentLogger });
  const tpm = await newTpm(stack);
  agent = await startAgent(stack.agentOptions(tpm, 'tenant-agent-1'));
  certStore = join(stack.dir, 'tpm_cert_store');
  mkdirSync(certStore);
  cpSync(tpm.caStoreDir, certStore, { recursive: true });
  tenantFlags = [
    '--registrar', `127.0.0.1:${stack.registrar.tlsPort}`,
    '--verifier', `127.0.0.1:${verifier.port}`,
    '--cert-dir', stack.caDir,
    '--max-retries', '1', '--retry-interval', '0.2',
  ];
});

afterAll(async () => {
  await agent?.close();
  await verifier?.close();
  await stack?.close();
});

const tenant = (...args: string[]) => runCliAsync(['tenant', ...args, ...tenantFlags]);

describe('keylime-ts tenant against our servers and a real agent', () => {
  it('refuses an agent whose EK certificate CA is missing from the store; nothing reaches agent or verifier', async () => {
    const emptyStore = join(stack.dir, 'empty-store');
    mkdirSync(emptyStore);
    const r = await tenant('add-agent', '--uuid', agent.agentId, '--tpm-cert-store', emptyStore, '--payload', join(stack.caDir, 'cacert.crt'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no certificate in the store issued ".*"; add that CA to the TPM certificate store/);
    expect((await tenant('status', '--uuid', agent.agentId, '--json')).stdout).toContain('"verifier": null');
    expect(agent.lastPayload).toBeUndefined();
  });

  it('add-agent --payload --verify --wait reaches Get Quote and the payload arrives decrypted', async () => {
    const payload = join(stack.dir, 'payload.txt');
    writeFileSync(payload, 'hello from the tenant\n');
    const started = Date.now();
    const r = await tenant('add-agent', '--uuid', agent.agentId, '--tpm-cert-store', certStore, '--payload', payload, '--verify', '--wait', '--json',
      '--tpm-policy', JSON.stringify({ 23: '0'.repeat(64) }));
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ agent_id: agent.agentId, ek_certificate: { status: 'verified' }, payload_delivered: true, key_verified: true });
    expect(out.status.state).toBe('Get Quote');
    expect(out.status.attestation_count).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    await agent.idle();
    const delivered = readFileSync(join(stack.dir, `agent-${agent.agentId}`, 'secure', 'unzipped', 'decrypted_payload'), 'utf8');
    expect(delivered).toBe('hello from the tenant\n');
  });

  it('status and list --json have the documented shapes; a second add is refused as a conflict', async () => {
    const status = JSON.parse((await tenant('status', '--uuid', agent.agentId, '--json')).stdout);
    expect(status.agent_id).toBe(agent.agentId);
    expect(status.registrar).toMatchObject({ regcount: 1, ek_cert_status: expect.any(String), aik_tpm: expect.any(String) });
    expect(status.verifier).toMatchObject({ operational_state: 3, state: 'Get Quote', attestation_status: 'PASS' });
    const list = JSON.parse((await tenant('list', '--json')).stdout);
    expect(list).toEqual([expect.objectContaining({ agent_id: agent.agentId, state: 'Get Quote', operational_state: 3 })]);
    const again = await tenant('add-agent', '--uuid', agent.agentId, '--tpm-cert-store', certStore);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already has agent/);
    const reg = JSON.parse((await tenant('reglist', '--json')).stdout);
    expect(reg.uuids).toContain(agent.agentId);
  });

  it('delete-agent, then status says not found at the verifier; unknown uuid exits 4', async () => {
    const del = await tenant('delete-agent', '--uuid', agent.agentId);
    expect(del.code, del.stderr).toBe(0);
    const status = JSON.parse((await tenant('status', '--uuid', agent.agentId, '--json')).stdout);
    expect(status.verifier).toBeNull();
    const unknown = await tenant('status', '--uuid', 'no-such-agent');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/known neither to the registrar 127\.0\.0\.1:\d+ nor to the verifier 127\.0\.0\.1:\d+; see keylime-ts tenant reglist/);
    const notRegistered = await tenant('add-agent', '--uuid', 'no-such-agent', '--tpm-cert-store', certStore);
    expect(notRegistered.stderr).toMatch(/registrar 127\.0\.0\.1:\d+ does not know agent no-such-agent .*is the agent running and registered\?/);
    expect((await tenant('reactivate', '--uuid', 'no-such-agent')).code).toBe(4);
    expect((await tenant('add-agent', '--uuid', 'no-such-agent', '--tpm-cert-store', certStore)).code).toBe(4);
  });

  it('an identity quote whose PCR 16 does not match the key the agent presents is refused', async () => {
    // A man in the middle swaps the agent's public key: the quote no longer binds it.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const tls = { cert: readFileSync(join(stack.caDir, 'server-cert.crt')), key: readFileSync(join(stack.caDir, 'server-private.pem')) };
    const proxy = createHttpsServer(tls, (req, res) => {
      const upstream = httpsRequest(
        { host: '127.0.0.1', port: agent.port, path: req.url, method: req.method, rejectUnauthorized: false,
          cert: readFileSync(join(stack.caDir, 'client-cert.crt')), key: readFileSync(join(stack.caDir, 'client-private.pem')) },
        (up) => {
          let body = '';
          up.on('data', (d) => (body += d));
          up.on('end', () => {
            const doc = JSON.parse(body);
            if (req.url?.includes('/quotes/identity')) doc.results.pubkey = other;
            res.writeHead(up.statusCode ?? 500, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
          });
        },
      );
      req.pipe(upstream);
    });
    const port = await freePort();
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
    try {
      const r = await tenant('add-agent', '--uuid', agent.agentId, '--agent', `127.0.0.1:${port}`, '--tpm-cert-store', certStore, '--json');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('pcr_validation.invalid_pcr_16');
      expect((await tenant('status', '--uuid', agent.agentId, '--json')).stdout).toContain('"verifier": null');
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('an agent that is down: exit 3 with a clear sentence', async () => {
    const port = await freePort();
    const r = await tenant('add-agent', '--uuid', agent.agentId, '--agent', `127.0.0.1:${port}`, '--tpm-cert-store', certStore);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach the agent at .*: connection refused/);
  });

  it('runtime-policy and mb-policy add/show/list/delete round trips, 409 on a duplicate name', async () => {
    const runtime = join(stack.dir, 'runtime.json');
    writeFileSync(runtime, JSON.stringify({ meta: { version: 1, generator: 1 }, release: 0, digests: { '/usr/bin/true': ['a'.repeat(64)] }, excludes: [], keyrings: {}, ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null }, 'ima-buf': {}, 'verification-keys': '' }));
    const mb = join(stack.dir, 'mb.json');
    writeFileSync(mb, JSON.stringify({ scrtm_and_bios: [], pk: [], kek: [], db: [], dbx: [], mokdig: [], mokxdig: [], kernels: [] }));
    for (const [group, file] of [['runtime-policy', runtime], ['mb-policy', mb]] as const) {
      expect((await tenant(group, 'add', '--name', 'p1', '--file', file)).code).toBe(0);
      const dup = await tenant(group, 'add', '--name', 'p1', '--file', file);
      expect(dup.code).toBe(2);
      expect(dup.stderr).toMatch(/already exists/);
      expect(JSON.parse((await tenant(group, 'list', '--json')).stdout).names).toContain('p1');
      const shown = await tenant(group, 'show', '--name', 'p1');
      expect(JSON.parse(shown.stdout)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
      expect((await tenant(group, 'update', '--name', 'p1', '--file', file)).code).toBe(0);
      expect((await tenant(group, 'delete', '--name', 'p1')).code).toBe(0);
      expect((await tenant(group, 'show', '--name', 'p1')).code).toBe(4);
    }
  });

  it('a DSSE-signed runtime policy is stored with its key, and refused (exit 1) under another key', async () => {
    const doc = JSON.stringify({ meta: { version: 1, generator: 1 }, release: 0, digests: { '/usr/bin/true': ['b'.repeat(64)] }, excludes: [], keyrings: {}, ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null }, 'ima-buf': {}, 'verification-keys': '' });
    const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signed = join(stack.dir, 'signed-policy.json');
    writeFileSync(signed, JSON.stringify(signDsseEnvelope(Buffer.from(doc), signer.privateKey)));
    const goodKey = join(stack.dir, 'signer.pem');
    writeFileSync(goodKey, signer.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const badKey = join(stack.dir, 'stranger.pem');
    writeFileSync(badKey, stranger.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const refused = await tenant('runtime-policy', 'add', '--name', 'signed', '--file', signed, '--key', badKey);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/signature/);
    expect((await tenant('runtime-policy', 'show', '--name', 'signed')).code).toBe(4);
    expect((await tenant('runtime-policy', 'add', '--name', 'signed', '--file', signed, '--key', goodKey)).code).toBe(0);
    expect((await tenant('runtime-policy', 'delete', '--name', 'signed')).code).toBe(0);
  });
});
