/**
 * A MachineContext over the in-memory repository, a hosts "file system" held in a Map,
 * a counter-based random source and a fixed clock, with helpers for the usual setup.
 */
import { createHash } from 'node:crypto';
import {
  MemoryMachineRepository,
  createMachineDirectory,
  enrollToken,
  paramsOf,
  setMachineResolver,
  type KeylimeAgentSummary,
  type MachineContext,
  type TokenEnrollment,
} from '../../../src/machines/index.js';

/** The privacyIDEA test data file tests/testdata/hosts (spec §3.3). */
export const PI_HOSTS = [
  '127.0.0.1      localhost',
  '192.168.0.1    gandalf whitewizard',
  '192.168.0.2\tpippin',
  '192.168.1.10   borodin',
  '192.168.10.10  rgandalf-old',
  '',
].join('\n');

export const SSH_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq0n2Zl0w1e2n0b8eY3bq3J2aJ1xE8m6m3h5b2p9b7o cornelius@puckel';

/** Deterministic bytes: SHA-256 chained from a seed, so every call gives new values. */
export function seededRandom(seed = 'seed'): (size: number) => Buffer {
  let state = createHash('sha256').update(seed).digest();
  return (size: number) => {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < size) {
      state = createHash('sha256').update(state).digest();
      chunks.push(state);
      total += state.length;
    }
    return Buffer.concat(chunks).subarray(0, size);
  };
}

export interface Fixture {
  ctx: MachineContext;
  repo: MemoryMachineRepository;
  files: Map<string, string>;
  agents: KeylimeAgentSummary[];
  hostsReads: () => number;
}

export function makeFixture(overrides: Partial<MachineContext> = {}): Fixture {
  const repo = new MemoryMachineRepository();
  const files = new Map<string, string>([['/etc/pi-hosts', PI_HOSTS]]);
  const agents: KeylimeAgentSummary[] = [];
  let reads = 0;
  const machines = createMachineDirectory({
    readHostsFile: (filename) => {
      reads++;
      const text = files.get(filename);
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${filename}'`);
      return text;
    },
    keylimeAgents: { listAgents: () => agents },
  });
  const ctx: MachineContext = {
    repo,
    machines,
    secretKey: Buffer.alloc(32, 7),
    randomBytes: seededRandom(),
    now: () => 1_700_000_000_000,
    ...overrides,
  };
  return { ctx, repo, files, agents, hostsReads: () => reads };
}

export async function addHostsResolver(fx: Fixture, name = 'reso1', filename = '/etc/pi-hosts'): Promise<number> {
  return setMachineResolver(fx.ctx, name, paramsOf({ type: 'hosts', filename }));
}

export async function addToken(fx: Fixture, input: TokenEnrollment): Promise<string> {
  return (await enrollToken(fx.ctx, input)).token.serial;
}

/** Asserts that a promise rejects with a KeylimeError carrying this privacyIDEA status/code/message. */
export async function piFailure(promise: Promise<unknown>): Promise<{ status: number; code: number; message: string; internal: string; detail: unknown }> {
  try {
    await promise;
  } catch (e) {
    const err = e as { name?: string; message: string; details: { privacyidea?: { status: number; code: number; message: string; detail: unknown } } };
    if (err?.name !== 'KeylimeError' && err?.name !== 'ParseError') throw new Error(`not a KeylimeError: ${String(e)}`);
    const pi = err.details.privacyidea;
    if (!pi) throw new Error(`KeylimeError without privacyIDEA shape: ${err.message}`);
    return { status: pi.status, code: pi.code, message: pi.message, internal: err.message, detail: pi.detail };
  }
  throw new Error('expected a rejection');
}
