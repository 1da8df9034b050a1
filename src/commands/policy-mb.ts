import { Option, type Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { KeylimeError } from '../errors.js';
import {
  checkMeasuredBoot,
  createMbRefstate,
  decodeMbMeasurementList,
  eventLogToJson,
  formatEventLog,
  MB_POLICY_NAMES,
  parseEventLog,
  replayEventLog,
} from '../mboot/index.js';
import { action, paint, printJson, printLine, usageError } from './output.js';

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeylimeError('not_found', `${what} ${path} does not exist`);
    throw new KeylimeError('invalid_input', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** A binary_bios_measurements file, or with --base64 an agent's mb_measurement_list. */
function readEventLog(path: string, base64: boolean): Buffer {
  const bytes = readInput(path, 'event log');
  return base64 ? decodeMbMeasurementList(bytes.toString('latin1').replace(/\s+/g, '')) : bytes;
}

function readJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new KeylimeError('invalid_input', `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Quoted PCR values from --pcrs: inline JSON or a file holding `{"<pcr>": "<hex>"}`, or
 * per bank `{"sha256": {"<pcr>": "<hex>"}}` (tpm2_pcrread's YAML shape, as JSON).
 */
export function parsePcrsOption(value: string, hashAlg: string): Map<number, string> {
  const text = value.trimStart().startsWith('{') ? value : readInput(value, 'PCR file').toString('utf8');
  let obj = readJson(text, '--pcrs') as Record<string, unknown>;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw usageError('--pcrs must be a JSON object');
  if (hashAlg in obj) obj = obj[hashAlg] as Record<string, unknown>;
  const pcrs = new Map<number, string>();
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (!/^\d+$/.test(k) || Number(k) > 23) throw usageError(`--pcrs: ${JSON.stringify(k)} is not a PCR index 0-23 (for bank ${hashAlg})`);
    const hex = typeof v === 'string' ? v.replace(/^0x/i, '') : typeof v === 'number' ? v.toString(16) : '';
    if (!/^[0-9a-fA-F]*$/.test(hex) || hex === '') throw usageError(`--pcrs: PCR ${k} value ${JSON.stringify(v)} is not hex`);
    pcrs.set(Number(k), hex.toLowerCase());
  }
  return pcrs;
}

interface CreateOptions {
  eventLog: string;
  withoutSecureboot?: boolean;
  output?: string;
  base64?: boolean;
  policyName: string;
}

interface ShowOptions {
  json?: boolean;
  base64?: boolean;
}

interface TestOptions {
  eventLog: string;
  policy: string;
  pcrs?: string;
  policyName: string;
  hashAlg: string;
  base64?: boolean;
  json?: boolean;
}

const policyNameOption = (fallback: string) =>
  new Option('--policy-name <name>', 'measured boot policy engine (Keylime\'s measured_boot_policy_name)').choices(MB_POLICY_NAMES).default(fallback);

/**
 * `policy mb create|show-log|test`, added under the given `policy` command.
 * The lead wires it into the `policy` group.
 */
export function registerPolicyMb(parent: Command): void {
  const mb = parent
    .command('mb')
    .description('measured boot: UEFI event logs and reference states (Keylime mb_policy / mb_refstate)')
    .addHelpText(
      'after',
      '\nThe event log is /sys/kernel/security/tpm0/binary_bios_measurements (what the agent sends as\n' +
        'mb_measurement_list, base64). A reference state (refstate) is the per-agent mb_policy JSON that\n' +
        "the verifier's measured boot policy engine (default \"example\") checks the log against.\n",
    );

  mb.command('create')
    .description('write a reference state for the example policy from a known-good event log (keylime-policy create measured-boot)')
    .requiredOption('-e, --event-log <file>', 'binary UEFI event log (binary_bios_measurements)')
    .option('-i, --without-secureboot', 'allow a log with secure boot off (vmlinuz digest instead of the kernel Authenticode hash)')
    .option('-o, --output <file>', 'write the refstate here instead of stdout')
    .option('--base64', 'the event log file is base64 (an agent\'s mb_measurement_list)')
    .addOption(
      new Option('--policy-name <name>', 'write the refstate for this policy engine; example-relaxed also pins every PCR 0 firmware event')
        .choices(['example', 'example-relaxed'])
        .default('example'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  keylime-ts policy mb create -e /sys/kernel/security/tpm0/binary_bios_measurements -o refstate.json\n' +
        '  keylime-ts policy mb create -e laptop.bin --without-secureboot --policy-name example-relaxed\n',
    )
    .action(
      action((o: CreateOptions) => {
        const log = parseEventLog(readEventLog(o.eventLog, Boolean(o.base64)));
        const created = createMbRefstate(log, { withoutSecureboot: Boolean(o.withoutSecureboot), relaxed: o.policyName === 'example-relaxed' });
        for (const w of created.warnings) process.stderr.write(`keylime-ts: warning: ${w}\n`);
        const text = JSON.stringify(created.refstate, null, 2) + '\n';
        if (o.output) {
          writeFileSync(o.output, text);
          process.stderr.write(`keylime-ts: wrote the ${o.policyName} refstate to ${o.output}\n`);
        } else {
          process.stdout.write(text);
        }
      }),
    );

  mb.command('show-log')
    .description('print every event of a UEFI event log and the PCR values it replays to, per bank')
    .argument('<file>', 'binary UEFI event log (binary_bios_measurements)')
    .option('--base64', 'the file is base64 (an agent\'s mb_measurement_list)')
    .option('--json', 'print one JSON document (the shape Keylime\'s policies read, plus replayed PCRs)')
    .addHelpText('after', '\nExamples:\n  keylime-ts policy mb show-log /sys/kernel/security/tpm0/binary_bios_measurements\n  keylime-ts policy mb show-log laptop.bin --json | jq \'.pcrs.sha256\'\n')
    .action(
      action((file: string, o: ShowOptions) => {
        const log = parseEventLog(readEventLog(file, Boolean(o.base64)));
        const replay = replayEventLog(log);
        if (o.json) {
          printJson(eventLogToJson(log, replay));
          return;
        }
        for (const line of formatEventLog(log, replay)) printLine(line.startsWith('#') ? paint.bold(line) : line);
      }),
    );

  mb.command('test')
    .description('check an event log against a reference state (and, with --pcrs, its replay against quoted PCR values)')
    .requiredOption('-e, --event-log <file>', 'binary UEFI event log (binary_bios_measurements)')
    .requiredOption('-p, --policy <file>', 'reference state JSON (mb_policy)')
    .option('--pcrs <json|file>', 'quoted PCR values: {"0": "<hex>", ...} or {"sha256": {"0": "<hex>"}}, inline or a file')
    .addOption(policyNameOption('example'))
    .option('--hash-alg <alg>', 'the bank of the --pcrs values', 'sha256')
    .option('--base64', 'the event log file is base64 (an agent\'s mb_measurement_list)')
    .option('--json', 'print one JSON document: {passed, policy, failures, checkedPcrs}')
    .addHelpText(
      'after',
      '\nExit status: 0 the log passes, 1 it does not (the reasons are printed), 2 bad input.\n' +
        '\nExamples:\n  keylime-ts policy mb test -e binary_bios_measurements -p refstate.json\n' +
        '  keylime-ts policy mb test -e bbm.bin -p refstate.json --pcrs \'{"sha256":{"0":"0ee9…","4":"a77f…"}}\' --json\n',
    )
    .action(
      action((o: TestOptions) => {
        const bytes = readEventLog(o.eventLog, Boolean(o.base64));
        parseEventLog(bytes); // a malformed log is an input error here, not a failed boot
        const refstate = readJson(readInput(o.policy, 'policy').toString('utf8'), `policy ${o.policy}`);
        const quoted = o.pcrs === undefined ? null : parsePcrsOption(o.pcrs, o.hashAlg);
        const result = checkMeasuredBoot({ eventLog: bytes, quotedPcrs: quoted, hashAlg: o.hashAlg, mbPolicy: refstate, policyName: o.policyName });
        const passed = result.failures.length === 0;
        if (o.json) {
          printJson({
            passed,
            policy: o.policyName,
            evaluated: result.evaluated,
            checkedPcrs: result.checkedPcrs,
            failures: result.failures.map((f) => ({ id: f.id, context: f.context })),
          });
          return passed ? 0 : 1;
        }
        const compared = result.checkedPcrs.length ? ` and PCRs ${result.checkedPcrs.join(', ')} match the quote` : '';
        if (passed) {
          printLine(`${paint.ok('PASS')}: the event log satisfies the ${o.policyName} policy${compared}`);
          return 0;
        }
        printLine(`${paint.bad('FAIL')}: ${result.failures.length} measured boot failure${result.failures.length === 1 ? '' : 's'}`);
        for (const f of result.failures) {
          const c = f.context;
          const detail = typeof c.reason === 'string' ? c.reason : 'got' in c ? `quote ${String(c.got)}, log ${String(c.expected)}` : String(c.message ?? JSON.stringify(c));
          printLine(`  ${paint.bold(f.id)}: ${detail}`);
        }
        return 1;
      }),
    );
}
