/**
 * A minimal verifier-shaped app: createServer (Keylime envelope everywhere else) with the
 * machine API mounted through the same seam the verifier uses, over fake agents and
 * attestation verdicts, in a temporary data directory. Requests go through inject(), so
 * the caller is the plain-HTTP administrator.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createServer } from '../../../src/servers/http/server.js';
import { success } from '../../../src/servers/http/envelope.js';
import { registerMachineApi, type AgentAttestation, type MachineAgentInfo, type MachineApiDeps } from '../../../src/servers/machines/index.js';
import type { TlsOptions } from '../../../src/servers/http/server.js';

export const AGENT_A = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';
export const AGENT_B = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00001';
export const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq0n2Zl0w1e2n0b8eY3bq3J2aJ1xE8m6m3h5b2p9b7o ops@example';
export const HOSTS = ['127.0.0.1      localhost', '192.168.0.1    gandalf whitewizard', '192.168.0.2\tpippin', ''].join('\n');

/** Deterministic bytes, so serials and refill tokens are reproducible. */
export function seededRandom(seed = 'seed'): (size: number) => Buffer {
  let state = createHash('sha256').update(seed).digest();
  return (size) => {
    const out: Buffer[] = [];
    let total = 0;
    while (total < size) {
      state = createHash('sha256').update(state).digest();
      out.push(state);
      total += state.length;
    }
    return Buffer.concat(out).subarray(0, size);
  };
}

export interface Reply {
  status: number;
  headers: Record<string, unknown>;
  body: any;
  text: string;
}

export interface Harness {
  app: FastifyInstance;
  dataDir: string;
  agents: Map<string, MachineAgentInfo>;
  verdicts: Map<string, AgentAttestation>;
  call(method: string, url: string, body?: { json?: unknown; form?: string; headers?: Record<string, string> }): Promise<Reply>;
  /** Closes the app and opens a new one on the same data directory (a verifier restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  dataDir?: string;
  tls?: TlsOptions;
  adminNames?: string[];
  randomBytes?: MachineApiDeps['randomBytes'];
  /** Skip app.ready() (to observe start failures). */
  noReady?: boolean;
}

export function buildApp(deps: MachineApiDeps, tls?: TlsOptions): FastifyInstance {
  return createServer({
    name: 'verifier',
    tls,
    versions: ['2.0'],
    versionInfo: () => ({ current_version: '2.0', supported_versions: ['2.0'] }),
    routes: (scope) => {
      scope.get('/agents/', async () => success({ uuids: [] }));
    },
    rootRoutes: (app) => registerMachineApi(app, deps),
  });
}

export async function makeHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'kts-machines-'));
  const agents = new Map<string, MachineAgentInfo>();
  const verdicts = new Map<string, AgentAttestation>();
  const deps: MachineApiDeps = {
    dataDir,
    agents: { list: () => [...agents.values()], get: (id) => agents.get(id) },
    attestation: (id) => verdicts.get(id) ?? { ok: true },
    now: () => 1_700_000_000_000,
    ...(options.adminNames ? { adminNames: options.adminNames } : {}),
    ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
  };
  const harness: Harness = {
    app: buildApp(deps, options.tls),
    dataDir,
    agents,
    verdicts,
    async call(method, url, body = {}) {
      const headers: Record<string, string> = { ...body.headers };
      let payload: string | undefined;
      if (body.json !== undefined) {
        headers['content-type'] ??= 'application/json';
        payload = JSON.stringify(body.json);
      } else if (body.form !== undefined) {
        headers['content-type'] ??= 'application/x-www-form-urlencoded';
        payload = body.form;
      }
      const r = await harness.app.inject({ method: method as 'GET', url, headers, payload });
      let parsed: unknown;
      try {
        parsed = JSON.parse(r.body);
      } catch {
        parsed = undefined;
      }
      return { status: r.statusCode, headers: r.headers, body: parsed, text: r.body };
    },
    async restart() {
      await harness.app.close();
      harness.app = buildApp(deps, options.tls);
      await harness.app.ready();
    },
    async close() {
      await harness.app.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (!options.noReady) await harness.app.ready();
  return harness;
}

/** result.value of a success envelope, failing loudly with the error otherwise. */
export function valueOf(reply: Reply): any {
  if (reply.status !== 200 || reply.body?.result?.status !== true) {
    throw new Error(`expected success, got ${reply.status}: ${reply.text}`);
  }
  return reply.body.result.value;
}
