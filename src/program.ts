import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { registerCommands } from './commands/index.js';

function packageVersion(): string {
  // src/program.ts and dist/src/program.js sit one or two levels below the package root.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(join(here, rel), 'utf8'));
      if (pkg.name === 'keylime-ts') return pkg.version as string;
    } catch {
      /* try the next location */
    }
  }
  return '0.0.0';
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('keylime-ts')
    .description(
      'TPM 2.0 remote attestation the Keylime way: registrar, verifier and agent servers, a tenant ' +
        'to enroll machines, and offline quote checks. Wire-compatible with Keylime REST API v2.x.',
    )
    .version(packageVersion(), '-V, --version', 'print the keylime-ts version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride((err) => {
      // commander's usage errors exit 2 as DESIGN says; --help and --version exit 0.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  registerCommands(program);
  return program;
}
