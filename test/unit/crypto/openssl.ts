import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Run the real openssl binary; tests judge our certificates by what OpenSSL says. */
export function openssl(args: string[], cwd?: string): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

export function tempDir(prefix = 'klts-ca-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
