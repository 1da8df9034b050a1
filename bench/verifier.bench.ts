/**
 * verifier.poll.overhead: verifier-side CPU time per successful poll — integrity answer
 * checks, quote verification (RSA-2048 AK, sha256 bank, PCR 16 and a tpm_policy PCR),
 * store bookkeeping (counters, clock info) including the periodic counter flush, metrics
 * and scheduling. The agents answer at once with quotes signed before the measurement
 * (one per agent and round, for the nonces the verifier will ask), so no agent-side work
 * is counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/log.js';
import { SERVER_API_VERSIONS } from '../src/servers/http/versions.js';
import type { AgentAddress, AgentApi, AgentReply, QuoteParams } from '../src/servers/verifier/agent-client.js';
import { ManualClock } from '../src/servers/verifier/clock.js';
import { AttestationMachine } from '../src/servers/verifier/machine.js';
import { VerifierMetrics } from '../src/servers/verifier/metrics.js';
import { addAgent, type VerifierDeps } from '../src/servers/verifier/service.js';
import { SeverityPolicy } from '../src/servers/verifier/severity.js';
import { VerifierStore } from '../src/servers/verifier/store.js';
import { makeTestPki } from '../test/support/certs.js';
import { SoftAgent } from '../test/support/soft-agent.js';
import type { Figure } from './harness.js';
import { directEnrollmentBody } from '../test/support/enrollment.js';

const AGENTS = 50;
const WARMUP_ROUNDS = 3;
const ROUNDS = 20;
const INTERVAL_MS = 2000;

const nonceFor = (agent: number, round: number) => `b${String(agent).padStart(4, '0')}r${String(round).padStart(14, '0')}`;

/** Answers instantly from a table of pre-signed answers, keyed by the nonce asked for. */
class PresignedAgents implements AgentApi {
  readonly answers = new Map<string, Record<string, unknown>>();
  async getIntegrityQuote(_agent: AgentAddress, _version: string, params: QuoteParams): Promise<AgentReply> {
    const results = this.answers.get(params.nonce);
    if (!results) throw new Error(`no pre-signed answer for nonce ${params.nonce}`);
    this.answers.delete(params.nonce);
    return { status: 200, message: 'Success', results };
  }
  async postVKey(): Promise<AgentReply> {
    return { status: 200, message: 'Success', results: {} };
  }
  async getVersion(): Promise<AgentReply> {
    return { status: 200, message: 'Success', results: { supported_versions: ['2.1'] } };
  }
  async postRevocation(): Promise<AgentReply> {
    return { status: 200, message: 'Success', results: {} };
  }
  async forget(): Promise<void> {}
  async close(): Promise<void> {}
}

async function pollOverheadMs(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-verifier-'));
  try {
    const pki = makeTestPki('bench');
    const store = await VerifierStore.open(dir);
    const clock = new ManualClock();
    const api = new PresignedAgents();
    const rounds = new Map<string, number>();
    const metrics = new VerifierMetrics();
    const machine = new AttestationMachine({
      store,
      api,
      clock,
      nonce: (id) => {
        const r = rounds.get(id) ?? 0;
        rounds.set(id, r + 1);
        return nonceFor(Number(id.slice(6)), r);
      },
      severity: new SeverityPolicy(),
      evaluators: [],
      revocation: { notify: () => undefined },
      metrics,
      log: silentLogger,
      config: { verifierId: 'default', quoteIntervalMs: INTERVAL_MS, retry: { retryInterval: 2, maxRetries: 5, exponentialBackoff: true }, agentVersions: SERVER_API_VERSIONS, concurrency: 64 },
    });
    const deps: VerifierDeps = { store, machine, evaluators: [], metrics, clock, log: silentLogger, config: { verifierId: 'default', verifierIp: '127.0.0.1', verifierPort: 8881, quoteIntervalSeconds: 2 } };

    // One software TPM's keys for every agent: verification costs the same, key generation does not repeat.
    const soft = Array.from({ length: AGENTS }, (_, i) => new SoftAgent(`agent-${String(i).padStart(4, '0')}`));
    const policy = JSON.stringify({ '15': [soft[0]!.pcrs.get(15)!.toString('hex')], mask: '0x8000' });
    for (const [i, a] of soft.entries()) {
      for (let r = 0; r < 1 + WARMUP_ROUNDS + ROUNDS; r++) {
        api.answers.set(nonceFor(i, r), a.integrity({ nonce: nonceFor(i, r), mask: '0x8000', partial: r === 0 ? 0 : 1 }));
      }
    }
    for (const a of soft) {
      await addAgent(deps, a.id, directEnrollmentBody(9002, pki.serverCert, a.akTpm, { v: null, tpm_policy: policy, supported_version: '2.1' }));
    }
    await machine.scheduler.idle();
    const round = async () => {
      clock.advance(INTERVAL_MS);
      await machine.scheduler.idle();
      // The counter flush runs every 2 s in the server: once per round here.
      await store.flush();
    };
    for (let r = 0; r < WARMUP_ROUNDS; r++) await round();
    const passesBefore = metrics.attestations.get();
    const cpu = process.cpuUsage();
    for (let r = 0; r < ROUNDS; r++) await round();
    const used = process.cpuUsage(cpu);
    const polls = metrics.attestations.get() - passesBefore;
    if (polls !== AGENTS * ROUNDS) throw new Error(`expected ${AGENTS * ROUNDS} successful polls, got ${polls}`);
    await machine.close();
    return Math.round(((used.user + used.system) / 1000 / polls) * 1000) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const figures: Figure[] = [{ name: 'verifier.poll.overhead', unit: 'ms', run: pollOverheadMs }];
