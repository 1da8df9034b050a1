import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { registerCommands } from './commands/index.js';
import { reportError } from './commands/output.js';
import { applyConfig, readConfigFile } from './config-file.js';

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
        'to enroll machines, offline quote and policy checks, and machine tokens handed out only to ' +
        'attested machines. Wire-compatible with Keylime REST API v2.x.',
    )
    .addHelpText(
      'after',
      '\nExit status: 0 success, 1 the thing checked is false, 2 usage or input error,\n' +
        '3 a server or the TPM could not be reached, 4 not found. Every flag has a KEYLIME_TS_* twin.\n\n' +
        'Examples:\n' +
        '  keylime-ts demo                          # everything on this machine, in a minute\n' +
        '  keylime-ts verifier start --data-dir /var/lib/keylime-ts\n' +
        '  keylime-ts tenant add-agent --uuid <id> --runtime-policy policy.json --verify --wait\n' +
        '  keylime-ts tenant list --json\n',
    )
    .version(packageVersion(), '-V, --version', 'print the keylime-ts version')
    .addOption(
      new Option('--config <file>', 'JSON file of option defaults per command group, e.g. {"verifier": {"quote-interval": 1}}; flags and KEYLIME_TS_* win').env(
        'KEYLIME_TS_CONFIG',
      ),
    )
    .hook('preAction', (root, actionCommand) => {
      const file = root.opts().config as string | undefined;
      if (!file) return;
      try {
        applyConfig(actionCommand, readConfigFile(file), file);
      } catch (e) {
        process.exit(reportError(e));
      }
    })
    .showHelpAfterError('(run with --help for usage)')
    // A subcommand's help also lists the options it inherits (tenant's --verifier, --json, ...).
    .configureHelp({ showGlobalOptions: true })
    .exitOverride((err) => {
      // commander's usage errors exit 2 as DESIGN says; --help and --version exit 0.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  registerCommands(program);
  return program;
}
