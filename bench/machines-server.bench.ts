/**
 * The machine API over HTTP (fastify inject, no sockets): an ssh authitem answer with the
 * attestation gate and 200 agents in the keylime resolver, and an attach whose change is
 * on disk (atomic write + fsync) before the answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Figure } from './harness.js';
import { medianMs, opsPerSecond } from './harness.js';
import { createServer } from '../src/servers/http/server.js';
import { registerMachineApi, type MachineAgentInfo } from '../src/servers/machines/index.js';

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq0n2Zl0w1e2n0b8eY3bq3J2aJ1xE8m6m3h5b2p9b7o bench@example';

async function withApp<T>(fn: (app: FastifyInstance) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kts-bench-machines-'));
  const agents: MachineAgentInfo[] = Array.from({ length: 200 }, (_, i) => ({
    agent_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    ip: `10.1.${i >> 8}.${i & 255}`,
    meta_data: JSON.stringify({ hostname: `node${i}` }),
  }));
  const app = createServer({
    name: 'bench',
    versions: ['2.0'],
    versionInfo: () => ({}),
    routes: () => undefined,
    rootRoutes: (root) =>
      registerMachineApi(root, {
        dataDir,
        agents: { list: () => agents, get: (id) => agents.find((a) => a.agent_id === id) },
        attestation: () => ({ ok: true }),
      }),
  });
  try {
    await app.ready();
    const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    await post('/token/init', { type: 'sshkey', sshkey: SSH_KEY, serial: 'BENCH1' });
    await post('/machine/token', { serial: 'BENCH1', application: 'ssh', hostname: 'node137', user: 'root' });
    return await fn(app);
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const figures: Figure[] = [
  {
    name: 'machines-server.authitem.ssh',
    unit: 'ops/s',
    run: () =>
      withApp((app) =>
        opsPerSecond(async () => {
          const r = await app.inject({ method: 'GET', url: '/machine/authitem/ssh?hostname=node137' });
          if (r.statusCode !== 200) throw new Error(r.body);
        }),
      ),
  },
  {
    name: 'machines-server.attach.durable',
    unit: 'ms',
    run: () =>
      withApp((app) =>
        medianMs(async () => {
          const r = await app.inject({
            method: 'POST',
            url: '/machine/token',
            payload: JSON.stringify({ serial: 'BENCH1', application: 'ssh', hostname: 'node7' }),
            headers: { 'content-type': 'application/json' },
          });
          if (r.statusCode !== 200) throw new Error(r.body);
        }, 40),
      ),
  },
];
