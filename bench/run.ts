import type { Figure } from './harness.js';

/** Each entry loads one bench module lazily, so a prefix only pays for what it runs. */
const modules: Record<string, () => Promise<{ figures: Figure[] }>> = {
  'tpm': () => import('./tpm.bench.js'),
  'agent': () => import('./agent.bench.js'),
  'machines': () => import('./machines.bench.js'),
  'machines-server': () => import('./machines-server.bench.js'),
  'ima': () => import('./ima.bench.js'),
  'quote': () => import('./quote.bench.js'),
  'ca': () => import('./ca.bench.js'),
  'mboot': () => import('./mboot.bench.js'),
  'verifier': () => import('./verifier.bench.js'),
  'tenant': () => import('./tenant.bench.js'),
};

async function main(): Promise<void> {
  const prefixes = process.argv.slice(2);
  const wanted = (name: string) => prefixes.length === 0 || prefixes.some((p) => name.startsWith(p));
  let ran = 0;
  for (const [group, load] of Object.entries(modules)) {
    if (!prefixes.length || prefixes.some((p) => group.startsWith(p) || p.startsWith(group))) {
      const { figures } = await load();
      for (const figure of figures.filter((f) => wanted(f.name))) {
        const value = await figure.run();
        process.stdout.write(`${figure.name} ${value} ${figure.unit}\n`);
        ran++;
      }
    }
  }
  if (ran === 0) {
    process.stderr.write(`no benchmark matches ${prefixes.join(' ') || '(all)'}\n`);
    process.exitCode = 2;
  }
}

await main();
