import type { Command } from 'commander';
import ora, { type Ora } from 'ora';
import { runDemo, type DemoReporter, type DemoStep } from '../demo/run.js';
import { action, paint, printJson, printLine } from './output.js';

/** Spinners on a TTY, one line per step otherwise; nothing but the final document with --json. */
function reporter(json: boolean | undefined): DemoReporter {
  if (json) return { begin: () => {}, end: () => {} };
  let spinner: Ora | undefined;
  return {
    begin(title) {
      if (process.stdout.isTTY) spinner = ora(title).start();
    },
    end(step: DemoStep) {
      const text = `${step.name} ${paint.dim(`(${(step.ms / 1000).toFixed(1)} s)`)}\n    ${step.detail}`;
      if (spinner) {
        if (step.ok) spinner.succeed(text);
        else spinner.fail(text);
        spinner = undefined;
      } else printLine(`${step.ok ? paint.ok('ok  ') : paint.bad('FAIL')} ${text}`);
    },
  };
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the whole system on this machine: software TPM, registrar, verifier and agent; enroll, attest, hand out an SSH key, then catch an unlisted program')
    .option('--keep', 'leave the servers running at the end and print the commands to talk to them')
    .option('--json', 'print one JSON document: {ok, steps: [{name, ok, ms, detail}], workspace}')
    .addHelpText(
      'after',
      '\nEverything runs on 127.0.0.1 in a temporary directory that is removed at the end (also on Ctrl-C).\n' +
        'Needs swtpm and tpm2-tools (scripts/setup.sh installs them). Exit status: 0 when every step\n' +
        'behaved as expected, 1 otherwise (the failing step is printed).\n',
    )
    .action(
      action(async (opts: { keep?: boolean; json?: boolean }) => {
        const started = performance.now();
        const result = await runDemo({ keep: opts.keep, reporter: reporter(opts.json) });
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        if (opts.json) {
          printJson({ ...result, seconds: Number(seconds) });
        } else if (result.ok) {
          printLine(paint.ok(`\nThe demo ran to a green end in ${seconds} s.`));
          if (result.keep) {
            printLine('\nStill running (workspace ' + result.workspace + '):');
            for (const c of result.keep.commands) printLine('  ' + c);
          }
        } else {
          const failed = result.steps.find((s) => !s.ok);
          printLine(paint.bad(`\nThe demo stopped at "${failed?.name ?? 'an unknown step'}": ${failed?.detail ?? ''}`));
        }
        return result.ok ? 0 : 1;
      }),
    );
}
