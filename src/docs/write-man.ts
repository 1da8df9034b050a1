import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProgram } from '../program.js';
import { generateManPages } from './man.js';

/** `npm run man`: regenerates man/ from the command definitions. */
const dir = process.argv[2] ?? 'man';
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.1')) rmSync(join(dir, f));
for (const page of generateManPages(buildProgram())) writeFileSync(join(dir, page.file), page.text);
