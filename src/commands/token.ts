import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { invalidInput } from '../errors.js';
import type { MachineApiClient, TokenItem } from '../client/machines.js';
import { machineApiOptions, withMachineApi, type MachineApiFlags } from './machine.js';
import { action, paint, printJson, printLine, usageError } from './output.js';

type Flags = MachineApiFlags & Record<string, unknown>;

interface AddOptions {
  type: string;
  serial?: string;
  otpkey?: string;
  genkey?: boolean;
  otplen?: string;
  hashlib?: string;
  timeStep?: string;
  sshkey?: string;
  sshkeyFile?: string;
  user?: string;
  description?: string;
}

function sshKeyLine(o: AddOptions): string | undefined {
  if (o.sshkey !== undefined && o.sshkeyFile !== undefined) throw usageError('give --sshkey or --sshkey-file, not both');
  if (o.sshkeyFile === undefined) return o.sshkey;
  let text: string;
  try {
    text = readFileSync(o.sshkeyFile, 'utf8');
  } catch {
    throw invalidInput(`--sshkey-file: cannot read ${o.sshkeyFile}`);
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1) throw invalidInput(`--sshkey-file ${o.sshkeyFile}: expected one public key line, found ${lines.length}`);
  return lines[0];
}

/** The /token/init body: privacyIDEA's parameter names. */
export function enrolmentBody(o: AddOptions): Record<string, unknown> {
  const hmac = ['hotp', 'totp', 'luks'].includes(o.type);
  if (hmac && o.otpkey === undefined && !o.genkey) throw usageError(`a ${o.type} token needs --otpkey HEX or --genkey`);
  if (!hmac && (o.otpkey !== undefined || o.genkey)) throw usageError(`a ${o.type} token has no OTP key`);
  const sshkey = sshKeyLine(o);
  if (o.type === 'sshkey' && sshkey === undefined) throw usageError('an sshkey token needs --sshkey "<public key line>" or --sshkey-file FILE');
  if (o.type !== 'sshkey' && sshkey !== undefined) throw usageError('--sshkey is for --type sshkey');
  const body: Record<string, unknown> = { type: o.type };
  const put = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  put('serial', o.serial);
  put('otpkey', o.otpkey);
  put('genkey', o.genkey ? 1 : undefined);
  put('otplen', o.otplen);
  put('hashlib', o.hashlib);
  put('timeStep', o.timeStep);
  put('sshkey', sshkey);
  put('user', o.user);
  put('description', o.description);
  return body;
}

function printTokens(tokens: TokenItem[]): void {
  if (tokens.length === 0) return printLine(paint.dim('no tokens'));
  for (const t of tokens) {
    const state = t.active ? paint.ok('active  ') : paint.bad('disabled');
    const what = t.tokentype === 'sshkey' ? `${t.info.ssh_type ?? ''} ${t.info.ssh_comment ?? ''}`.trim() : `otplen ${t.otplen}, counter ${t.count}`;
    printLine(`${t.serial.padEnd(14)} ${t.tokentype.padEnd(7)} ${state} ${t.username ? `${t.username} ` : ''}${what}${t.description ? `  ${paint.dim(t.description)}` : ''}`);
  }
}

export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description('tokens for machines: SSH public keys, HOTP/TOTP secrets, LUKS (yubikey-style) HMAC secrets')
    .addHelpText(
      'after',
      '\nTokens live in the verifier (<data-dir>/machines.json, secrets sealed with machines.key) and are\n' +
        "bound to machines with `keylime-ts machine attach-token`. Calls use the CA's client certificate.\n",
    );
  const sub = (name: string, description: string) => machineApiOptions(token.command(name).description(description));

  sub('add', 'enrol a token')
    .addOption(new Option('--type <type>', 'token type (luks = totp with a UBOM serial)').choices(['hotp', 'totp', 'luks', 'sshkey', 'spass']).makeOptionMandatory())
    .option('--serial <serial>', "serial (default: privacyIDEA's, e.g. OATH0001A2B3)")
    .option('--otpkey <hex>', 'hotp/totp/luks: the HMAC secret as hex')
    .option('--genkey', 'hotp/totp/luks: generate the secret (printed once)')
    .option('--otplen <n>', 'OTP digits (default 6)')
    .addOption(new Option('--hashlib <hash>', 'HMAC hash (default sha1)').choices(['sha1', 'sha256', 'sha512']))
    .option('--time-step <s>', 'totp: seconds per step (default 30)')
    .option('--sshkey <line>', 'sshkey: the public key line ("ssh-ed25519 AAAA... comment")')
    .option('--sshkey-file <file>', 'sshkey: read the public key line from a file (e.g. ~/.ssh/id_ed25519.pub)')
    .option('--user <login>', 'owner login name (becomes `username` in ssh and offline items)')
    .option('--description <text>', 'free text')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  keylime-ts token add --type sshkey --sshkey-file ~/.ssh/id_ed25519.pub --user alice\n' +
        '  keylime-ts token add --type luks --genkey --json\n  keylime-ts token add --type hotp --serial OATH-OFFLINE-1 --otpkey 3132333435363738393031323334353637383930\n',
    )
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & AddOptions;
        const body = enrolmentBody(o);
        const result = await withMachineApi(o, (api) => api.initToken(body));
        if (o.json) return printJson(result);
        printLine(`${paint.ok('enrolled')} ${result.serial}`);
        if (result.otpkey) printLine(`secret (shown once, as hex): ${result.otpkey}`);
      }),
    );

  sub('list', 'tokens with their type, state, owner and counter')
    .option('--serial <serial>', 'serial; * is a wildcard (SSHK*)')
    .option('--type <type>', 'only this token type')
    .option('--user <login>', 'only tokens of this owner')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExample:\n  keylime-ts token list --serial "UBOM*" --json\n')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & { serial?: string; type?: string; user?: string };
        const tokens = await withMachineApi(o, (api) => api.listTokens({ serial: o.serial, type: o.type, user: o.user }));
        if (o.json) return printJson(tokens);
        printTokens(tokens);
      }),
    );

  const simple = (name: 'delete' | 'enable' | 'disable', description: string, run: (api: MachineApiClient, serial: string) => Promise<number>) =>
    sub(name, description)
      .argument('<serial>', 'token serial')
      .option('--json', 'print one JSON document on stdout')
      .addHelpText('after', `\nExample:\n  keylime-ts token ${name} SSHK00011A2B\n`)
      .action(
        action(async (serial: string, _o: unknown, cmd: Command) => {
          const o = cmd.optsWithGlobals() as Flags;
          const count = await withMachineApi(o, (api) => run(api, serial));
          if (o.json) return printJson({ serial, count });
          printLine(`${paint.ok(name === 'delete' ? 'deleted' : `${name}d`)} ${serial}`);
        }),
      );
  simple('delete', 'delete a token and all its machine bindings', (api, serial) => api.deleteToken(serial));
  simple('enable', 'enable a token (its items are handed out again)', (api, serial) => api.setTokenActive(serial, true));
  simple('disable', 'disable a token (ssh keys are withheld, luks answers carry no response)', (api, serial) => api.setTokenActive(serial, false));
}
