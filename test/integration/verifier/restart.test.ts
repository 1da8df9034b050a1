import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';
import type { AgentsData } from '../../../src/servers/verifier/record.js';
import { State } from '../../../src/servers/verifier/states.js';
import { cliBin } from '../../support/cli.js';
import { adminClient, agentStatus, enroll, freePort, newTpm, startAgent, startStack, waitFor, type Stack } from './stack.js';

const IDS = ['c0ffee00-0000-4000-8000-000000000001', 'c0ffee00-0000-4000-8000-000000000002'];

let stack: Stack;
let agents: RunningAgent[] = [];
let admin: HttpClient;
let port: number;
let dataDir: string;
let child: ChildProcess | undefined;
let output = '';

/** `keylime-ts verifier start` as a separate process, the way an operator runs it. */
async function startVerifierProcess(): Promise<ChildProcess> {
  const p = spawn(
    process.execPath,
    [cliBin, 'verifier', 'start', '--port', String(port), '--data-dir', dataDir, '--cert-dir', stack.caDir, '--quote-interval', '1', '--request-timeout', '5'],
    { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  p.stdout!.on('data', (d) => (output += d));
  p.stderr!.on('data', (d) => (output += d));
  await waitFor('verifier listening', 20_000, async () => (await admin.get('/version')).status === 200);
  // The start-up line (with resumed=N) is logged after the listener opens and agents resume.
  await waitFor('start-up log line', 20_000, async () => /verifier listening/.test(output));
  return p;
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) resolve({ code: p.exitCode, signal: p.signalCode });
    else p.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

function onDisk(): AgentsData {
  return JSON.parse(readFileSync(join(dataDir, 'verifier-agents.json'), 'utf8')) as AgentsData;
}

const count = async (id: string) => Number((await agentStatus(admin, id)).results.attestation_count);

beforeAll(async () => {
  stack = await startStack();
  port = await freePort();
  dataDir = join(stack.dir, 'verifier');
  admin = adminClient(stack, `https://127.0.0.1:${port}`);
  const tpms = await Promise.all(IDS.map(() => newTpm(stack)));
  agents = await Promise.all(IDS.map((id, i) => startAgent(stack.agentOptions(tpms[i]!, id))));
  child = await startVerifierProcess();
  for (const agent of agents) await enroll(stack, admin, agent, { supportedVersion: '2.2' });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited(child);
  }
  await admin?.close();
  await Promise.all(agents.map((a) => a.close()));
  await stack?.close();
});

describe('verifier process killed and restarted', () => {
  it('SIGKILL -> restart: every agent resumes; on disk nothing is lost but at most 5 s of counters', async () => {
    for (const id of IDS) await waitFor(`${id} attested 4 times`, 20_000, async () => (await count(id)) >= 4);
    const before = await Promise.all(IDS.map(count));
    child!.kill('SIGKILL');
    expect((await exited(child!)).signal).toBe('SIGKILL');

    const disk = onDisk();
    for (const [i, id] of IDS.entries()) {
      const a = disk.agents[id]!;
      expect(a.operational_state).toBe(State.GET_QUOTE);
      expect(a.public_key).toBe(agents[i]!.nkPublicPem);
      expect(a.supported_version).toBe('2.2');
      // A quote per second, counters flushed at least every 5 s.
      expect(a.attestation_count).toBeGreaterThanOrEqual(before[i]! - 5);
      expect(a.attestation_count).toBeLessThanOrEqual(before[i]! + 1);
    }

    output = '';
    child = await startVerifierProcess();
    expect(output).toMatch(/resumed=2/);
    for (const [i, id] of IDS.entries()) {
      const onDiskCount = disk.agents[id]!.attestation_count;
      const s = await waitFor(`${id} attesting again`, 20_000, async () => {
        const st = (await agentStatus(admin, id)).results;
        return st.operational_state === State.GET_QUOTE && Number(st.attestation_count) >= onDiskCount + 2 ? st : undefined;
      });
      expect(s.last_event_id).toBeNull();
      expect(agents[i]).toBeDefined();
    }
  });

  it('SIGTERM stops it cleanly and the counters reach the disk', async () => {
    const last = await Promise.all(IDS.map(count));
    child!.kill('SIGTERM');
    const { code } = await exited(child!);
    expect(code).toBe(0);
    expect(output).toMatch(/stopping.*signal=SIGTERM/);
    const disk = onDisk();
    for (const [i, id] of IDS.entries()) expect(disk.agents[id]!.attestation_count).toBeGreaterThanOrEqual(last[i]!);
  });
});
