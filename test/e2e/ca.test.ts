import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `keylime-ts ca ...` as a user runs it: the built CLI through bin/keylime-ts. */
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'keylime-ts');
const roots: string[] = [];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Build when dist is missing or older than the sources this test exercises. */
function ensureBuilt(): void {
  const built = (rel: string) => join(repo, 'dist', rel.replace(/\.ts$/, '.js'));
  const sources = ['src/cli.ts', 'src/commands/ca.ts', 'src/commands/index.ts'];
  const stale = sources.some((s) => {
    try {
      return statSync(built(s)).mtimeMs < statSync(join(repo, s)).mtimeMs;
    } catch {
      return true;
    }
  });
  let cryptoStale = true;
  try {
    cryptoStale = statSync(built('src/crypto/ca.ts')).mtimeMs < newestMtime(join(repo, 'src', 'crypto'));
  } catch {
    /* not built */
  }
  if (!stale && !cryptoStale) return;
  // tsc emits even when files owned by others have type errors; what matters is our output.
  spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', repo], { cwd: repo, stdio: 'ignore' });
  for (const s of [...sources, 'src/crypto/ca.ts']) statSync(built(s));
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', KEYLIME_TS_HOME: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function openssl(args: string[], cwd: string): number | null {
  return spawnSync('openssl', args, { cwd, encoding: 'utf8' }).status;
}

function freshRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'klts-e2e-ca-'));
  roots.push(r);
  return r;
}

/** Start the CLI and SIGKILL it after `delay` ms (if it is still running by then). */
async function killedAfter(delay: number, args: string[]): Promise<void> {
  const child = spawn(process.execPath, args, { cwd: repo, stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  await Promise.race([exited, new Promise((r) => setTimeout(r, delay))]);
  child.kill('SIGKILL');
  await exited;
}

beforeAll(() => ensureBuilt(), 180_000);
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

describe('keylime-ts ca', () => {
  it('init --json creates the CA and prints one JSON document; a second init refuses with exit 2', () => {
    const data = freshRoot();
    const r = cli(['ca', 'init', '--data-dir', data, '--json', '--host', '10.9.8.7']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const dir = join(data, 'cv_ca');
    expect(doc.dir).toBe(dir);
    expect(doc.replaced).toBe(false);
    expect([...doc.files].sort()).toEqual(readdirSync(dir).sort());
    expect(doc.certificates.map((c: { file: string }) => c.file)).toEqual(['cacert.crt', 'client-cert.crt', 'server-cert.crt']);
    expect(doc.certificates[2].subjectAltNames).toContain('IP Address:10.9.8.7');
    expect(openssl(['verify', '-CAfile', 'cacert.crt', 'server-cert.crt', 'client-cert.crt'], dir)).toBe(0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'server-private.pem')).mode & 0o777).toBe(0o600);

    const before = readFileSync(join(dir, 'cacert.crt'));
    const again = cli(['ca', 'init', '--data-dir', data, '--json']);
    expect(again.code).toBe(2);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/^keylime-ts: a CA already exists in .*--force/);
    expect(readFileSync(join(dir, 'cacert.crt')).equals(before)).toBe(true);

    const forced = cli(['ca', 'init', '--data-dir', data, '--json', '--force']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).replaced).toBe(true);
    expect(readFileSync(join(dir, 'cacert.crt')).equals(before)).toBe(false);
  });

  it('show prints subject, validity, SANs and fingerprints; issue adds a verified certificate', () => {
    const data = freshRoot();
    expect(cli(['ca', 'init'], { KEYLIME_TS_HOME: data }).code).toBe(0); // data dir from the environment
    const dir = join(data, 'cv_ca');

    const issued = cli(['ca', 'issue', '--data-dir', data, '--kind', 'server', '--name', 'registrar', '--host', 'reg.example.org', '--json']);
    expect(issued.code).toBe(0);
    const doc = JSON.parse(issued.stdout);
    expect(doc).toMatchObject({ name: 'registrar', kind: 'server', serial: 4, dir });
    expect(doc.certificate.issuedByCa).toBe(true);
    expect(doc.certificate.subjectAltNames).toContain('DNS:reg.example.org');
    expect(openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslserver', 'registrar-cert.crt'], dir)).toBe(0);

    const show = cli(['ca', 'show', '--dir', dir, '--json']);
    expect(show.code).toBe(0);
    const shown = JSON.parse(show.stdout);
    expect(shown.certificates.map((c: { file: string }) => c.file)).toEqual(['cacert.crt', 'client-cert.crt', 'registrar-cert.crt', 'server-cert.crt']);
    for (const c of shown.certificates) {
      expect(c.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(c.issuedByCa).toBe(true);
    }

    const human = cli(['ca', 'show', '--data-dir', data]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('CN=Keylime Certificate Authority');
    expect(human.stdout).toContain('signed by this CA');
    expect(human.stdout).toContain('DNS:reg.example.org');
    expect(human.stdout).not.toMatch(/\x1b\[/); // NO_COLOR

    const dup = cli(['ca', 'issue', '--data-dir', data, '--kind', 'server', '--name', 'registrar']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain('--force');

    const out = join(data, 'bundle');
    const bundle = cli(['ca', 'issue', '--data-dir', data, '--kind', 'client', '--name', 'ops', '--out', out]);
    expect(bundle.code).toBe(0);
    expect(bundle.stdout).toContain('Issued client certificate ops (serial 5)');
    expect(openssl(['verify', '-CAfile', 'cacert.crt', '-purpose', 'sslclient', 'ops-cert.crt'], out)).toBe(0);
  });

  it('exit codes: 4 when there is no CA, 2 for bad input', () => {
    const data = freshRoot();
    expect(cli(['ca', 'show', '--data-dir', data]).code).toBe(4);
    expect(cli(['ca', 'issue', '--data-dir', data, '--kind', 'client', '--name', 'x']).code).toBe(4);
    expect(cli(['ca', 'issue', '--data-dir', data, '--kind', 'nope', '--name', 'x']).code).toBe(2);
    expect(cli(['ca', 'issue', '--data-dir', data, '--kind', 'client']).code).toBe(2);
    const badHost = cli(['ca', 'init', '--data-dir', data, '--host', 'not a host']);
    expect(badHost.code).toBe(2);
    expect(badHost.stderr).toContain('not a host name or IP address');
    expect(readdirSync(data)).toEqual([]);
  });

  it('kill -9 at any moment of init leaves no CA or a complete one, never half of one', async () => {
    const data = freshRoot();
    const dir = join(data, 'cv_ca');
    const outcomes = { complete: 0, absent: 0 };
    // init takes ~350 ms, most of it start-up and key generation; the writes and renames come
    // last, so the kill times crowd towards the end.
    const delays = [40, 120, 200, 240, 270, 290, 305, 320, 335, 350, 365, 380, 400, 440];
    for (const delay of delays) {
      rmSync(dir, { recursive: true, force: true });
      await killedAfter(delay, [bin, 'ca', 'init', '--data-dir', data]);
      const show = cli(['ca', 'show', '--data-dir', data, '--json']);
      if (show.code === 4) {
        outcomes.absent++;
        expect(cli(['ca', 'init', '--data-dir', data]).code).toBe(0);
        continue;
      }
      expect(show.code).toBe(0);
      const doc = JSON.parse(show.stdout);
      expect(doc.certificates.map((c: { file: string }) => c.file)).toEqual(['cacert.crt', 'client-cert.crt', 'server-cert.crt']);
      expect(doc.certificates.every((c: { issuedByCa: boolean }) => c.issuedByCa)).toBe(true);
      // the keystore is complete too: issuing works
      expect(cli(['ca', 'issue', '--data-dir', data, '--kind', 'client', '--name', `probe${delay}`]).code).toBe(0);
      outcomes.complete++;
    }
    expect(outcomes.complete + outcomes.absent).toBe(delays.length);
  }, 120_000);

  it('kill -9 during init --force leaves the old CA or the new one', async () => {
    const data = freshRoot();
    const dir = join(data, 'cv_ca');
    expect(cli(['ca', 'init', '--data-dir', data]).code).toBe(0);
    for (const delay of [60, 250, 300, 330, 360, 400]) {
      await killedAfter(delay, [bin, 'ca', 'init', '--data-dir', data, '--force']);
      // issue loads the CA (restoring a swapped-out one first) and must find a whole CA.
      const issued = cli(['ca', 'issue', '--data-dir', data, '--kind', 'client', '--name', `after${delay}`, '--json']);
      expect(issued.stderr).toBe('');
      expect(issued.code).toBe(0);
      expect(openssl(['verify', '-CAfile', 'cacert.crt', `after${delay}-cert.crt`, 'server-cert.crt', 'client-cert.crt'], dir)).toBe(0);
    }
  }, 120_000);
});
