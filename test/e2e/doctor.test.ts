import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { startSwtpm, type Swtpm } from '../support/swtpm.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

describe('keylime-ts doctor', () => {
  let tpm: Swtpm;
  const dir = mkdtempSync(join(tmpdir(), 'kts-doctor-'));
  beforeAll(async () => {
    tpm = await startSwtpm({ ekCert: false });
  });
  afterAll(async () => {
    await tpm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const doctor = async (...args: string[]) => {
    const r = await runCliAsync(['doctor', '--json', ...args]);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
    return { code: r.code, ...out, check: (name: string) => out.checks.find((c) => c.name === name)! };
  };

  it('reports every problem with the command that fixes it, and exits 2', async () => {
    const dataDir = join(dir, 'missing');
    const r = await doctor('--data-dir', dataDir, '--tcti', 'swtpm:host=127.0.0.1,port=1');
    expect(r.code).toBe(2);
    expect(r.ok).toBe(false);
    expect(r.checks.map((c) => c.name)).toEqual(['node', 'tpm2-tools', 'swtpm', 'tpm', 'data-dir', 'ca']);
    expect(r.check('node')).toMatchObject({ ok: true });
    expect(r.check('tpm2-tools')).toMatchObject({ ok: true, detail: expect.stringMatching(/^tpm2-tools 5\./) });
    expect(r.check('tpm')).toMatchObject({ ok: false, fix: expect.stringContaining('--tcti') });
    expect(r.check('data-dir')).toEqual({ name: 'data-dir', ok: false, detail: `${dataDir} does not exist`, fix: `mkdir -m 700 -p ${dataDir}` });
    expect(r.check('ca')).toMatchObject({ ok: false, fix: `keylime-ts ca init --data-dir ${dataDir}` });
    for (const c of r.checks) expect(c.ok || typeof c.fix === 'string').toBe(true);
  });

  it('a data directory that is not 0700 is a problem with a chmod fix', async () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    const r = await doctor('--data-dir', open, '--tcti', tpm.tcti);
    expect(r.check('data-dir')).toMatchObject({ ok: false, fix: `chmod 700 ${open}` });
  });

  it('all well (TPM answers, 0700 data dir, CA present) -> ok and exit 0', async () => {
    const home = join(dir, 'home');
    const init = await runCliAsync(['ca', 'init', '--data-dir', home]);
    expect(init.code, init.stderr).toBe(0);
    chmodSync(home, 0o700);
    const r = await doctor('--data-dir', home, '--tcti', tpm.tcti);
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.code).toBe(0);
    expect(r.check('tpm').detail).toContain('answers');
  });
});
