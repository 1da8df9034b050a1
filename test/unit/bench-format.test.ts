import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';

describe('benchmarks', () => {
  it('every figure unit is one token, so each output line is exactly `<name> <value> <unit>`', () => {
    const dir = join(repoRoot, 'bench');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const m of text.matchAll(/unit: '([^']*)'/g)) expect(m[1], `${file}: unit '${m[1]}'`).toMatch(/^\S+$/);
    }
  });

  it('every bench module is registered in bench/run.ts', () => {
    const run = readFileSync(join(repoRoot, 'bench', 'run.ts'), 'utf8');
    for (const file of readdirSync(join(repoRoot, 'bench')).filter((f) => f.endsWith('.bench.ts'))) {
      expect(run, file).toContain(`import('./${file.replace(/\.ts$/, '.js')}')`);
    }
  });
});
