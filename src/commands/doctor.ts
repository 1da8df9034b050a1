import { Option, type Command } from 'commander';
import { resolveDataDir, resolveTcti } from '../config.js';
import { runDoctor } from '../doctor/checks.js';
import { action, paint, printJson, printLine } from './output.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check that this machine can run keylime-ts: Node, tpm2-tools, swtpm, the TPM, the data directory and the CA')
    .addOption(new Option('--data-dir <dir>', 'data directory (default: $KEYLIME_TS_HOME, /var/lib/keylime-ts as root, else ~/.local/share/keylime-ts)').env('KEYLIME_TS_DATA_DIR'))
    .addOption(new Option('--tcti <tcti>', 'TPM to check, e.g. swtpm:host=127.0.0.1,port=2321 (else $TPM2TOOLS_TCTI, else device:/dev/tpmrm0)').env('KEYLIME_TS_TCTI'))
    .option('--json', 'print one JSON document: {ok, checks: [{name, ok, detail, fix?}]}')
    .addHelpText('after', '\nExit status: 0 when every check passes, 2 otherwise.\n\nExample:\n  keylime-ts doctor --tcti swtpm:host=127.0.0.1,port=2321 --json')
    .action(
      action(async (opts: { dataDir?: string; tcti?: string; json?: boolean }) => {
        const checks = await runDoctor({ dataDir: resolveDataDir(opts.dataDir), tcti: resolveTcti(opts.tcti) });
        const ok = checks.every((c) => c.ok);
        if (opts.json) {
          printJson({ ok, checks });
        } else {
          for (const c of checks) {
            printLine(`${c.ok ? paint.ok('ok     ') : paint.bad('problem')} ${c.name.padEnd(10)} ${c.detail}`);
            if (c.fix) printLine(`        ${''.padEnd(10)} fix: ${paint.bold(c.fix)}`);
          }
          printLine(ok ? paint.ok('All checks passed.') : paint.bad(`${checks.filter((c) => !c.ok).length} problem(s) found.`));
        }
        return ok ? 0 : 2;
      }),
    );
}
