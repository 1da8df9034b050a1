import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateManPages } from '../../../src/docs/man.js';
import { buildProgram } from '../../../src/program.js';
import { repoRoot } from '../../support/cli.js';

describe('man pages', () => {
  const pages = generateManPages(buildProgram());
  const manDir = join(repoRoot, 'man');

  it('man/ holds keylime-ts(1) and one page per command group, identical to what the commands define (run npm run man)', () => {
    const groups = buildProgram().commands.map((c) => `keylime-ts-${c.name()}.1`);
    expect(pages.map((p) => p.file).sort()).toEqual(['keylime-ts.1', ...groups].sort());
    expect(readdirSync(manDir).filter((f) => f.endsWith('.1')).sort()).toEqual(pages.map((p) => p.file).sort());
    for (const page of pages) expect(readFileSync(join(manDir, page.file), 'utf8'), `${page.file} is stale: run npm run man`).toBe(page.text);
  });

  it('every page renders with man(1) without warnings', () => {
    for (const page of pages) {
      const out = execFileSync('man', ['--warnings', '-l', join(manDir, page.file)], { env: { ...process.env, MANWIDTH: '100' }, stdio: ['ignore', 'pipe', 'pipe'] })
        .toString()
        // Without a terminal, man may still embolden by overstriking (X\bX); read the text.
        .replace(/.\x08/g, '');
      expect(out).toContain('NAME');
      expect(out.length).toBeGreaterThan(200);
    }
  });
});
