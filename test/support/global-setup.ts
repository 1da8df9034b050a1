/**
 * Builds dist/ once before the suite when a source is newer than the last build, so e2e
 * tests run the CLI exactly as a user would (node bin/keylime-ts) without building themselves.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const stamp = join(repo, 'dist', '.build-stamp');
  const sourcesChanged = !existsSync(stamp) || ['src', 'bench', 'test/support'].some((d) => newest(join(repo, d)) > statSync(stamp).mtimeMs);
  if (!sourcesChanged) return;
  execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json')], { stdio: 'inherit' });
  writeFileSync(stamp, '');
}
