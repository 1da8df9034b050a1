import { execSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cliBin, runCliAsync } from '../support/cli.js';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('keylime-ts demo', () => {
  it('runs every step to a green end, then removes its workspace', async () => {
    const r = await runCliAsync(['demo', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    expect(out.steps.map((s: { name: string }) => s.name)).toEqual([
      'Software TPM, CA and a measured boot',
      'Registrar, verifier and agent started',
      'Enrolled with a PCR policy, a runtime policy and a payload',
      'Attested continuously',
      'SSH key handed out to the attested machine',
      'An unlisted program runs',
      'Detected by the verifier',
      'Revocation notification received by the webhook',
      'SSH key now refused',
    ]);
    expect(out.steps.find((s: { name: string }) => s.name === 'Detected by the verifier').detail).toContain('ima.validation.ima-ng.not_in_allowlist');
    expect(out.seconds).toBeLessThan(90);
    expect(existsSync(out.workspace)).toBe(false);
  }, 120_000);

  it('Ctrl-C tears everything down: no server process survives, the workspace is gone', async () => {
    const workspaces = () => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('keylime-ts-demo-')));
    const before = workspaces();
    const child = spawn(process.execPath, [cliBin, 'demo'], { env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Interrupt once the servers are up.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`servers never started:\n${out}`)), 60_000);
      child.stdout.on('data', () => {
        if (out.includes('Registrar, verifier and agent started')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const ports = [...out.matchAll(/:(\d{4,5})/g)].map((m) => Number(m[1]));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    // Nothing answers on the ports the demo printed any more.
    const { connect } = await import('node:net');
    for (const port of ports) {
      const open = await new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      expect(open, `port ${port} still open`).toBe(false);
    }
    expect(processAlive(child.pid!)).toBe(false);
    expect([...workspaces()].filter((w) => !before.has(w))).toEqual([]);
  }, 120_000);

  it('--keep leaves the servers running and prints working commands, including the one that stops them', async () => {
    const r = await runCliAsync(['demo', '--keep', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { workspace: string; keep: { commands: string[] } };
    const [status, , , cleanup] = out.keep.commands;
    try {
      // The printed command line, run as printed (its first word is this checkout's bin/keylime-ts).
      const [bin, ...args] = status!.split(' ');
      expect(bin).toBe(cliBin);
      const s = await runCliAsync([...args, '--json']);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).verifier).toMatchObject({ state: 'Invalid Quote', last_event_id: 'ima.validation.ima-ng.not_in_allowlist' });
    } finally {
      execSync(cleanup!, { stdio: 'ignore', shell: '/bin/bash' });
    }
    expect(existsSync(out.workspace)).toBe(false);
  }, 120_000);
});
