import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/client/http.js';
import { verifyQuote } from '../../../src/quote/index.js';
import { cliBin, runCliAsync } from '../../support/cli.js';
import { freePort } from '../../support/swtpm.js';
import { noRetry, startHarness, type AgentHarness } from './harness.js';

/** Starts `keylime-ts agent start` configured only through KEYLIME_TS_* variables. */
function startCli(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  const child = spawn(process.execPath, [cliBin, 'agent', 'start'], { env: { ...process.env, NO_COLOR: '1', ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { child, output: () => out, exited };
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('keylime-ts agent start (the CLI, configured by environment)', () => {
  let h: AgentHarness;
  beforeAll(async () => {
    h = await startHarness({ swtpm: { ekCert: false } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('registers, serves verifiable quotes over mTLS, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const cli = startCli({
      KEYLIME_TS_UUID: 'cli-agent',
      KEYLIME_TS_PORT: String(port),
      KEYLIME_TS_REGISTRAR: `127.0.0.1:${h.registrar.port}`,
      KEYLIME_TS_TCTI: h.tpm.tcti,
      KEYLIME_TS_DATA_DIR: join(h.dir, 'cli-agent'),
      KEYLIME_TS_TRUSTED_CLIENT_CA: h.caFile,
      KEYLIME_TS_IMA_LOG: join(h.dir, 'no-such-ima-log'),
      KEYLIME_TS_EVENT_LOG: join(h.dir, 'no-such-event-log'),
    });
    try {
      await waitFor(() => cli.output().includes('agent ready') || cli.child.exitCode !== null, 'agent ready');
      expect(cli.output()).toContain('agent ready');
      const reg = await h.registrarTenant.get<{ mtls_cert: string; aik_tpm: string; port: number }>('/v2.1/agents/cli-agent');
      expect(reg.status, reg.text).toBe(200);
      expect(reg.body!.results.port).toBe(port);
      // As the tenant does: trust the certificate the registrar holds for the agent.
      const api = new HttpClient(`https://127.0.0.1:${port}`, {
        name: 'agent',
        retry: noRetry,
        tls: { ca: [reg.body!.results.mtls_cert], cert: h.pki.clientCert, key: h.pki.clientKey },
      });
      try {
        const q = await api.get<Record<string, string>>('/v2.1/quotes/integrity', { query: { nonce: 'cli1', mask: '0x401', partial: '0' } });
        expect(q.status, q.text).toBe(200);
        expect(q.body!.results).not.toHaveProperty('ima_measurement_list');
        expect(q.body!.results).not.toHaveProperty('mb_measurement_list');
        const v = verifyQuote({ quote: q.body!.results.quote!, ak: reg.body!.results.aik_tpm, nonce: 'cli1', hashAlg: 'sha256', dataPubkeyPem: q.body!.results.pubkey! });
        expect(v.failures).toEqual([]);
      } finally {
        await api.close();
      }
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toMatch(/stopping/);
  });

  it('exits with a plain sentence when the trusted client CA is missing', async () => {
    const r = await runCliAsync(['agent', 'start', '--uuid', 'x1', '--data-dir', join(h.dir, 'x1'), '--tcti', h.tpm.tcti, '--registrar', `127.0.0.1:${h.registrar.port}`]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^keylime-ts: trusted client CA .*cv_ca\/cacert\.crt not found/);
  });
});
