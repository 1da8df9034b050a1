/**
 * `keylime-ts machine ...` and `keylime-ts token ...` against a verifier-shaped server over
 * real mTLS, run in-process through commander as the CLI runs them: output, --json
 * documents and exit codes (0 ok, 1 attestation refused, 2 input/permission, 3 unreachable,
 * 4 not found).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerMachine } from '../../../src/commands/machine.js';
import { registerToken } from '../../../src/commands/token.js';
import { initCa, issueCertificate, readTlsMaterial } from '../../../src/crypto/ca.js';
import { listen } from '../../../src/servers/http/server.js';
import type { AgentAttestation, MachineAgentInfo } from '../../../src/servers/machines/index.js';
import { AGENT_A, AGENT_B, SSH_KEY, buildApp } from '../../unit/machines-server/harness.js';

const root = mkdtempSync(join(tmpdir(), 'kts-machines-cli-'));
const caDir = join(root, 'cv_ca');
const agents = new Map<string, MachineAgentInfo>();
const verdicts = new Map<string, AgentAttestation>();
let app: FastifyInstance;
let port: number;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const program = new Command('keylime-ts').exitOverride().configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  registerMachine(program);
  registerToken(program);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  let code = 0;
  try {
    await program.parseAsync(['node', 'keylime-ts', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 99;
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
  return { code, stdout, stderr };
}

const conn = () => ['--verifier', `127.0.0.1:${port}`, '--cert-dir', caDir];
const asMachine = () => [...conn(), '--cert-name', AGENT_A];
const json = (r: Run) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  await initCa(caDir, { hosts: ['127.0.0.1'] });
  await issueCertificate(caDir, { kind: 'client', name: AGENT_A });
  const server = readTlsMaterial(caDir, 'server');
  agents.set(AGENT_A, { agent_id: AGENT_A, ip: '10.0.0.5', meta_data: '{"hostname":"web1"}' });
  agents.set(AGENT_B, { agent_id: AGENT_B, ip: '10.0.0.6', meta_data: '{"hostname":"db1"}' });
  app = buildApp(
    {
      dataDir: join(root, 'verifier'),
      agents: { list: () => [...agents.values()], get: (id) => agents.get(id) },
      attestation: (id) => verdicts.get(id) ?? { ok: true },
    },
    { cert: server.cert, key: server.key, ca: [server.ca], clientAuth: 'optional' },
  );
  port = await listen(app, '127.0.0.1', 0);
}, 120_000);

afterAll(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('token and machine commands', () => {
  it('enrol, bind, fetch, change options, detach and delete, end to end', async () => {
    const keyFile = join(root, 'id_ed25519.pub');
    writeFileSync(keyFile, `${SSH_KEY}\n`);
    const ssh = json(await run('token', 'add', '--type', 'sshkey', '--sshkey-file', keyFile, '--serial', 'SSH1', '--user', 'alice', '--json', ...conn()));
    expect(ssh).toEqual({ serial: 'SSH1' });
    const luks = json(await run('token', 'add', '--type', 'luks', '--genkey', '--json', ...conn()));
    expect(luks.serial).toMatch(/^UBOM/);
    expect(luks.otpkey).toMatch(/^[0-9a-f]{40}$/);
    const human = await run('token', 'add', '--type', 'hotp', '--genkey', ...conn());
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^enrolled OATH\d{4}[0-9A-F]{4}\nsecret \(shown once, as hex\): [0-9a-f]{40}\n$/);

    const tokens = json(await run('token', 'list', '--json', ...conn()));
    expect(tokens.map((t: any) => t.serial)).toEqual([expect.stringMatching(/^OATH/), 'SSH1', luks.serial]);
    expect(json(await run('token', 'list', '--serial', 'UBOM*', '--json', ...conn())).map((t: any) => t.serial)).toEqual([luks.serial]);

    const machines = json(await run('machine', 'list', '--json', ...conn()));
    expect(machines.map((m: any) => [m.id, m.hostname[0]])).toEqual([[AGENT_A, 'web1'], [AGENT_B, 'db1']]);
    expect((await run('machine', 'list', '--hostname', 'db', ...conn())).stdout).toContain(AGENT_B);

    expect(json(await run('machine', 'attach-token', '--serial', 'SSH1', '--application', 'ssh', '--hostname', 'web1', '--option', 'user=root', '--json', ...conn()))).toEqual({ id: 1 });
    expect(
      json(await run('machine', 'attach-token', '--serial', luks.serial, '--application', 'luks', '--machineid', AGENT_A, '--resolver', 'keylime', '--option', 'slot=2', '--json', ...conn())),
    ).toEqual({ id: 2 });
    const bindings = json(await run('machine', 'tokens', '--serial', 'SSH1', '--json', ...conn()));
    expect(bindings).toEqual([{ machine_id: AGENT_A, hostname: 'web1', application: 'ssh', resolver: 'keylime', options: { user: 'root' }, id: 1, serial: 'SSH1' }]);
    expect(json(await run('machine', 'tokens', '--hostname', 'web1', '--filter', 'slot=2', '--json', ...conn())).map((b: any) => b.serial)).toEqual([luks.serial]);

    // The machine itself, with its own certificate: authorized_keys output for sshd.
    const keys = await run('machine', 'authitem', '--hostname', 'web1', '--application', 'ssh', '--user', 'root', ...asMachine());
    expect(keys).toEqual({ code: 0, stdout: `${SSH_KEY}\n`, stderr: '' });
    const luksItem = await run('machine', 'authitem', '--hostname', 'web1', '--application', 'luks', '--challenge', 'abcdef', ...asMachine());
    expect(luksItem.stdout).toMatch(/^luks slot=2 partition= challenge=abcdef response=[0-9a-f]{40}\n$/);

    expect(json(await run('machine', 'token-option', '--serial', 'SSH1', '--application', 'ssh', '--hostname', 'web1', '--set', 'service_id=git', '--unset', 'user', '--json', ...conn()))).toEqual({
      added: 1,
      deleted: 1,
    });
    expect(json(await run('machine', 'tokens', '--serial', 'SSH1', '--json', ...conn()))[0].options).toEqual({ service_id: 'git' });

    expect(json(await run('machine', 'detach-token', '--serial', 'SSH1', '--application', 'ssh', '--hostname', 'web1', '--json', ...conn()))).toEqual({ deleted: 1 });
    expect(json(await run('machine', 'tokens', '--serial', 'SSH1', '--json', ...conn()))).toEqual([]);
    expect((await run('machine', 'detach-token', '--serial', luks.serial, '--application', 'luks', '--mtid', '2', ...conn())).stdout).toBe('detached 1 binding\n');

    expect((await run('token', 'disable', 'SSH1', ...conn())).stdout).toBe('disabled SSH1\n');
    expect(json(await run('token', 'list', '--serial', 'SSH1', '--json', ...conn()))[0].active).toBe(false);
    expect(json(await run('token', 'enable', 'SSH1', '--json', ...conn()))).toEqual({ serial: 'SSH1', count: 1 });
    expect((await run('token', 'delete', 'SSH1', ...conn())).code).toBe(0);
    expect(json(await run('token', 'list', '--serial', 'SSH1', '--json', ...conn()))).toEqual([]);
  });

  it('manages machine resolvers', async () => {
    const hosts = join(root, 'hosts');
    writeFileSync(hosts, '192.168.0.1 gandalf\n');
    expect(json(await run('machine', 'resolver', 'set', 'lab', '--type', 'hosts', '--filename', hosts, '--json', ...conn()))).toEqual({ id: 2 });
    expect(Object.keys(json(await run('machine', 'resolver', 'list', '--json', ...conn())))).toEqual(['keylime', 'lab']);
    expect(json(await run('machine', 'list', '--resolver', 'lab', '--json', ...conn()))).toEqual([{ hostname: ['gandalf'], ip: '192.168.0.1', resolver_name: 'lab', id: '192.168.0.1' }]);
    expect((await run('machine', 'resolver', 'delete', 'lab', ...conn())).code).toBe(0);
  });
});

describe('exit codes', () => {
  it('exits 1 with the event when attestation refuses the machine', async () => {
    json(await run('token', 'add', '--type', 'sshkey', '--sshkey', SSH_KEY, '--serial', 'GATED', '--json', ...conn()));
    json(await run('machine', 'attach-token', '--serial', 'GATED', '--application', 'ssh', '--hostname', 'web1', '--json', ...conn()));
    verdicts.set(AGENT_A, { ok: false, eventId: 'pcr_validation.invalid_pcr_16', state: 'Invalid Quote' });
    const r = await run('machine', 'authitem', '--hostname', 'web1', '--application', 'ssh', ...asMachine());
    verdicts.delete(AGENT_A);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`keylime-ts: Machine ${AGENT_A} (web1) does not pass attestation: pcr_validation.invalid_pcr_16 (status Invalid Quote).\n`);
  });

  it("exits 2 for another machine's items and for usage errors, 4 for a missing token, 3 when the verifier is down", async () => {
    const other = await run('machine', 'authitem', '--hostname', 'db1', ...asMachine());
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/may only fetch its own authentication items/);
    const noMachine = await run('machine', 'attach-token', '--serial', 'X', '--application', 'ssh', ...conn());
    expect(noMachine.code).toBe(2);
    expect(noMachine.stderr).toMatch(/name the machine in exactly one way/);
    expect((await run('machine', 'attach-token', '--serial', 'X', '--application', 'ssh', '--hostname', 'a', '--option', 'serial=Y', ...conn())).code).toBe(2);
    expect((await run('token', 'add', '--type', 'hotp', ...conn())).stderr).toMatch(/needs --otpkey HEX or --genkey/);
    const missing = await run('token', 'delete', 'NOPE', ...conn());
    expect(missing).toMatchObject({ code: 4, stderr: 'keylime-ts: Token with serial NOPE does not exist.\n' });
    const down = await run('token', 'list', '--verifier', '127.0.0.1:1', '--cert-dir', caDir);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the verifier/);
    const noCerts = await run('token', 'list', '--cert-dir', join(root, 'nowhere'), '--verifier', `127.0.0.1:${port}`);
    expect(noCerts.code).toBe(4);
  });
});
