import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import { verifyQuote } from '../../../src/quote/index.js';
import { startAgent, type RunningAgent } from '../../../src/servers/agent/index.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { resetInPlace } from '../tpm/helpers.js';
import { startHarness, type AgentHarness } from './harness.js';

async function quoteVerifies(api: HttpClient, agent: RunningAgent, nonce: string): Promise<Record<number, string>> {
  const r = await api.get<Record<string, string>>('/v2.1/quotes/integrity', { query: { nonce, mask: '0x408400', partial: '0' } });
  expect(r.status, r.text).toBe(200);
  const verdict = verifyQuote({
    quote: r.body!.results.quote!,
    ak: agent.akPublic,
    nonce,
    hashAlg: 'sha256',
    dataPubkeyPem: r.body!.results.pubkey!,
    skipClockCheck: true,
  });
  expect(verdict.failures).toEqual([]);
  expect(verdict.pcrs).toHaveProperty('16');
  return verdict.pcrs;
}

async function regcount(h: AgentHarness, id: string): Promise<number> {
  const r = await h.registrarTenant.get<{ regcount: number }>(`/v2.1/agents/${id}`);
  expect(r.status, r.text).toBe(200);
  return r.body!.results.regcount;
}

describe('agent restarts and TPM resets (persistent AK)', () => {
  let h: AgentHarness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('keeps UUID and AK across an agent restart; the registrar counts 2 registrations', async () => {
    const first = await startAgent(h.agentOptions());
    const firstCert = first.mtlsCertPem;
    await first.close();
    const second = await startAgent(h.agentOptions());
    try {
      expect(second.agentId).toBe(first.agentId);
      expect(second.akPublic.equals(first.akPublic)).toBe(true);
      expect(second.nkPublicPem).toBe(first.nkPublicPem);
      expect(second.mtlsCertPem).toBe(firstCert);
      expect(await regcount(h, second.agentId)).toBe(2);
      await quoteVerifies(h.clientFor(second), second, 'afterRestart');
    } finally {
      await second.close();
    }
  });

  it('makes a new certificate (same key) when the contact address changes, and registers the new address', async () => {
    const before = await startAgent(h.agentOptions());
    const oldCert = new X509Certificate(before.mtlsCertPem);
    const count = await regcount(h, before.agentId);
    await before.close();
    const moved = await startAgent(h.agentOptions({ contactIp: '192.0.2.7', contactPort: 19002 }));
    try {
      const cert = new X509Certificate(moved.mtlsCertPem);
      expect(cert.checkIP('192.0.2.7')).toBe('192.0.2.7');
      expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(oldCert.publicKey.export({ type: 'spki', format: 'pem' }));
      expect(cert.serialNumber).not.toBe(oldCert.serialNumber);
      const got = await h.registrarTenant.get<Record<string, unknown>>(`/v2.1/agents/${moved.agentId}`);
      expect(got.body!.results).toMatchObject({ ip: '192.0.2.7', port: 19002, mtls_cert: moved.mtlsCertPem, regcount: count + 1 });
    } finally {
      await moved.close();
    }
  });

  it('serves valid quotes after a TPM reset under it, and starts again on a restarted swtpm with the same AK', async () => {
    const agent = await startAgent(h.agentOptions());
    const api = h.clientFor(agent);
    try {
      await quoteVerifies(api, agent, 'beforeReset');
      resetInPlace(h.tpm);
      const pcrs = await quoteVerifies(api, agent, 'afterReset');
      expect(pcrs[15]).toBe('00'.repeat(32));
    } finally {
      await agent.close();
    }
    await h.tpm.restart();
    const again = await startAgent(h.agentOptions());
    try {
      expect(again.akPublic.equals(agent.akPublic)).toBe(true);
      await quoteVerifies(h.clientFor(again), again, 'freshStart');
    } finally {
      await again.close();
    }
  });

  it('refuses to start (no retries) when the registrar answers 403 for another TPM under the same id', async () => {
    const other = await startSwtpm({ ekCert: false });
    const attempts: number[] = [];
    try {
      const start = startAgent(
        h.agentOptions({ tcti: other.tcti, dataDir: join(h.dir, 'impostor'), sleep: async (ms) => void attempts.push(ms) }),
      );
      await expect(start).rejects.toMatchObject({ code: 'forbidden', message: expect.stringMatching(/registrar refused agent .*HTTP 403/) });
      expect(attempts).toEqual([]);
    } finally {
      await other.stop();
    }
  });
});

describe('agent with a transient AK (reloaded from agent_data.json blobs)', () => {
  let h: AgentHarness;

  beforeAll(async () => {
    h = await startHarness({ swtpm: { ekCert: false } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reloads its AK after a TPM reset, running and at start, and serves valid quotes', async () => {
    const agent = await startAgent(h.agentOptions({ akHandle: null }));
    const api = h.clientFor(agent);
    try {
      expect(agent.ekCert).toBeNull();
      expect(agent.tpm.currentAk?.persistentHandle).toBeNull();
      await quoteVerifies(api, agent, 'one');
      resetInPlace(h.tpm);
      await quoteVerifies(api, agent, 'two');
    } finally {
      await agent.close();
    }
    await h.tpm.restart();
    const again = await startAgent(h.agentOptions({ akHandle: null }));
    try {
      expect(again.akPublic.equals(agent.akPublic)).toBe(true);
      await quoteVerifies(h.clientFor(again), again, 'three');
      expect(await regcount(h, again.agentId)).toBe(2);
    } finally {
      await again.close();
    }
  });
});

describe('agent with --uuid hash_ek and an ECC EK/AK', () => {
  let tpm: Swtpm;
  let h: AgentHarness;

  beforeAll(async () => {
    h = await startHarness({ swtpm: { ekCert: false } });
    tpm = h.tpm;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('uses the SHA-256 of the EK PEM (as tpm2-tools writes it) as id and quotes with ECDSA', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'kts-ekpem-'));
    try {
      execFileSync('tpm2_createek', ['-c', 'ek.ctx', '-G', 'ecc', '-u', 'ek.pem', '-f', 'pem'], { cwd: scratch, env: tpm.env, stdio: 'pipe' });
      execFileSync('tpm2_flushcontext', ['-t'], { cwd: scratch, env: tpm.env, stdio: 'pipe' });
      const expectedId = createHash('sha256').update(readFileSync(join(scratch, 'ek.pem'))).digest('hex');
      const agent = await startAgent(h.agentOptions({ uuid: 'hash_ek', encAlg: 'ecc', dataDir: join(h.dir, 'ecc-agent') }));
      try {
        expect(agent.agentId).toBe(expectedId);
        const api = h.clientFor(agent);
        const r = await api.get<Record<string, string>>('/v2.2/quotes/identity', { query: { nonce: 'ecc1' } });
        expect(r.body!.results).toMatchObject({ enc_alg: 'ecc', sign_alg: 'ecdsa', hash_alg: 'sha256' });
        const v = verifyQuote({ quote: r.body!.results.quote!, ak: agent.akPublic, nonce: 'ecc1', hashAlg: 'sha256', dataPubkeyPem: r.body!.results.pubkey!, skipClockCheck: true });
        expect(v.failures).toEqual([]);
        expect(await regcount(h, expectedId)).toBe(1);
      } finally {
        await agent.close();
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('agent on a TPM without the configured PCR bank', () => {
  let h: AgentHarness;
  beforeAll(async () => {
    h = await startHarness({ swtpm: { ekCert: false, pcrBanks: 'sha1' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('fails at start with the reason instead of on the first poll, and never registers', async () => {
    await expect(startAgent(h.agentOptions({ hashAlg: 'sha256' }))).rejects.toMatchObject({
      code: 'tpm',
      message: expect.stringContaining('the TPM cannot produce a sha256 quote with this AK'),
    });
    expect((await h.registrarTenant.get('/v2.1/agents/')).body!.results).toEqual({ uuids: [] });
  });
});
