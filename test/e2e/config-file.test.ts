import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-config-'));
const config = (doc: unknown) => {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(doc));
  return p;
};
const dataDirOf = (stdout: string) => (JSON.parse(stdout).checks as { name: string; detail: string }[]).find((c) => c.name === 'data-dir')!.detail;
const tctiOf = (stdout: string) => (JSON.parse(stdout).checks as { name: string; detail: string }[]).find((c) => c.name === 'tpm')!.detail;

describe('--config FILE', () => {
  const cfg = config({ doctor: { 'data-dir': '/from/config', tcti: 'swtpm:host=127.0.0.1,port=1' } });

  it('supplies option values the user did not give', () => {
    const r = runCli(['--config', cfg, 'doctor', '--json']);
    expect(dataDirOf(r.stdout)).toContain('/from/config');
    expect(tctiOf(r.stdout)).toContain('port=1');
  });

  it('loses to the flag and to the KEYLIME_TS_* environment twin', () => {
    expect(dataDirOf(runCli(['--config', cfg, 'doctor', '--json', '--data-dir', '/from/flag']).stdout)).toContain('/from/flag');
    const viaEnv = runCli(['doctor', '--json'], { env: { KEYLIME_TS_CONFIG: cfg, KEYLIME_TS_TCTI: 'swtpm:host=127.0.0.1,port=2' } });
    expect(tctiOf(viaEnv.stdout)).toContain('port=2');
    expect(dataDirOf(viaEnv.stdout)).toContain('/from/config');
  });

  it('refuses unknown option names, malformed JSON and a missing file with a clear sentence', () => {
    const unknown = runCli(['--config', config({ doctor: { nope: 1 } }), 'doctor']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('"doctor" has no option "nope"');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"doctor": ');
    expect(runCli(['--config', bad, 'doctor']).stderr).toMatch(/is not valid JSON/);
    expect(runCli(['--config', join(dir, 'missing.json'), 'doctor']).code).toBe(4);
  });
});
