import { Option, type Command } from 'commander';
import { caDir, DEFAULT_PORTS, parseHostPort, resolveDataDir } from '../config.js';
import { readTlsMaterial } from '../crypto/ca.js';
import { authorizedKeysText } from '../machines/index.js';
import { MachineApiClient, type BindingItem, type Query } from '../client/machines.js';
import { action, paint, printJson, printLine, usageError } from './output.js';

export interface MachineApiFlags {
  verifier: string;
  certDir?: string;
  dataDir?: string;
  certName: string;
  requestTimeout: string;
  json?: boolean;
}

type Flags = MachineApiFlags & Record<string, unknown>;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Connection options every machine and token command takes; each has a KEYLIME_TS_* twin. */
export function machineApiOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--verifier <host:port>', "the verifier's address").env('KEYLIME_TS_VERIFIER').default(`127.0.0.1:${DEFAULT_PORTS.verifier}`))
    .addOption(new Option('--cert-dir <dir>', 'directory with cacert.crt and <name>-cert.crt / <name>-private.pem (default <data-dir>/cv_ca)').env('KEYLIME_TS_CERT_DIR'))
    .addOption(new Option('--data-dir <dir>', 'data directory (default $KEYLIME_TS_HOME, else ~/.local/share/keylime-ts)').env('KEYLIME_TS_DATA_DIR'))
    .addOption(
      new Option('--cert-name <name>', 'which certificate to present: "client" (administrator) or an agent id (that machine)').env('KEYLIME_TS_CERT_NAME').default('client'),
    )
    .addOption(new Option('--request-timeout <s>', 'seconds per request').env('KEYLIME_TS_REQUEST_TIMEOUT').default('60'));
}

export function machineApiClient(flags: MachineApiFlags): MachineApiClient {
  const dir = flags.certDir ?? caDir(resolveDataDir(flags.dataDir));
  const timeout = Number(flags.requestTimeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw usageError(`--request-timeout must be a positive number of seconds, not ${flags.requestTimeout}`);
  const { host, port } = parseHostPort(flags.verifier, DEFAULT_PORTS.verifier);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError(`--verifier ${flags.verifier}: not a host:port`);
  const tls = readTlsMaterial(dir, flags.certName);
  const origin = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new MachineApiClient(origin, { tls: { ca: [tls.ca], cert: tls.cert, key: tls.key }, timeoutMs: timeout * 1000 });
}

export async function withMachineApi<T>(flags: MachineApiFlags, fn: (api: MachineApiClient) => Promise<T>): Promise<T> {
  const api = machineApiClient(flags);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

/** `key=value` pairs of --option/--set/--filter; the value may be empty and may hold '='. */
export function keyValues(pairs: readonly string[] | undefined, flag: string): Array<[string, string]> {
  return (pairs ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`${flag} ${pair}: expected key=value`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

interface MachineSelector {
  hostname?: string;
  machineid?: string;
  resolver?: string;
  anyMachine?: boolean;
  mtid?: string;
}

/** Exactly one way of naming the machine (or binding), as the command allows. */
function machineTarget(o: MachineSelector, allowed: { anyMachine?: boolean; mtid?: boolean }): 'hostname' | 'machine' | 'any' | 'mtid' {
  const ways: Array<'hostname' | 'machine' | 'any' | 'mtid'> = [];
  if (o.hostname !== undefined) ways.push('hostname');
  if (o.machineid !== undefined || o.resolver !== undefined) {
    if (o.machineid === undefined || o.resolver === undefined) throw usageError('--machineid and --resolver go together');
    ways.push('machine');
  }
  if (o.anyMachine) {
    if (!allowed.anyMachine) throw usageError('--any-machine is not possible here');
    ways.push('any');
  }
  if (o.mtid !== undefined) {
    if (!allowed.mtid) throw usageError('--mtid is not possible here');
    ways.push('mtid');
  }
  const choices = ['--hostname', '--machineid with --resolver', ...(allowed.anyMachine ? ['--any-machine'] : []), ...(allowed.mtid ? ['--mtid'] : [])].join(', ');
  if (ways.length !== 1) throw usageError(`name the machine in exactly one way: ${choices}`);
  return ways[0]!;
}

function mtidOf(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw usageError(`--mtid ${text}: expected a binding id (a positive integer)`);
  return n;
}

const optionsText = (options: Record<string, string>): string =>
  Object.entries(options)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

function printBindings(items: BindingItem[]): void {
  if (items.length === 0) {
    printLine(paint.dim('no bindings'));
    return;
  }
  for (const b of items) {
    const where = b.hostname !== undefined ? `${b.hostname} (${b.machine_id ?? 'any machine'} @ ${b.resolver ?? 'no resolver'})` : (b.machine_id ?? 'any machine');
    printLine(`${String(b.id).padStart(4)}  ${b.serial.padEnd(14)} ${b.application.padEnd(8)} ${where}${b.type ? `  ${paint.dim(b.type)}` : ''}${Object.keys(b.options).length ? `  ${optionsText(b.options)}` : ''}`);
  }
}

/** Human rendering of authitem answers: ssh as authorized_keys lines (for AuthorizedKeysCommand). */
function printAuthItems(value: Record<string, Array<Record<string, unknown>>>): void {
  const ssh = value.ssh ?? [];
  if (ssh.length) process.stdout.write(authorizedKeysText(ssh as never));
  for (const item of value.luks ?? []) {
    printLine(`luks slot=${String(item.slot ?? '')} partition=${String(item.partition ?? '')} challenge=${String(item.challenge)} response=${String(item.response ?? '(token disabled)')}`);
  }
  for (const item of value.offline ?? []) {
    const counters = Object.keys((item.response as Record<string, string>) ?? {}).map(Number);
    const range = counters.length ? `counters ${Math.min(...counters)}..${Math.max(...counters)}` : 'no values';
    printLine(`offline ${counters.length} values (${range}) refilltoken=${String(item.refilltoken)}`);
  }
}

export function registerMachine(program: Command): void {
  const machine = program
    .command('machine')
    .description('privacyIDEA-style machine tokens at the verifier: machines, token bindings, options and authentication items')
    .addHelpText(
      'after',
      '\nThe verifier serves privacyIDEA\'s /machine API and hands authentication items (SSH keys, LUKS\n' +
        'responses, offline OTP values) to a machine of the `keylime` resolver only while its agent passes\n' +
        'attestation. Calls use mTLS: the CA\'s "client" certificate is the administrator; a certificate\n' +
        'whose CN is an agent id (keylime-ts ca issue --kind client --name <agent-id>), or the agent\'s own\n' +
        'mTLS certificate, may only fetch that machine\'s items. No PI-Authorization JWT is used.\n',
    );
  const sub = (name: string, description: string) => machineApiOptions(machine.command(name).description(description));

  sub('list', 'machines of every resolver (the verifier\'s agents, hosts files)')
    .option('--hostname <text>', 'part of a hostname')
    .option('--ip <ip>', 'exact IP address')
    .option('--id <text>', 'part of the machine id')
    .option('--resolver <text>', 'part of the resolver name')
    .option('--any <text>', 'part of the id, a hostname or the IP')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExample:\n  keylime-ts machine list --resolver keylime --json\n')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & Record<string, string | undefined>;
        const machines = await withMachineApi(o, (api) => api.listMachines({ hostname: o.hostname, ip: o.ip, id: o.id, resolver: o.resolver, any: o.any }));
        if (o.json) return printJson(machines);
        if (machines.length === 0) return printLine(paint.dim('no machines'));
        for (const m of machines) printLine(`${m.id.padEnd(38)} ${m.resolver_name.padEnd(10)} ${(m.ip ?? '-').padEnd(16)} ${m.hostname.join(' ')}`);
      }),
    );

  sub('attach-token', 'bind a token to a machine for an application (ssh, luks, offline)')
    .requiredOption('--serial <serial>', 'token serial')
    .requiredOption('--application <app>', 'ssh, luks or offline')
    .option('--hostname <name>', 'the machine by exact hostname')
    .option('--machineid <id>', 'the machine by id (with --resolver)')
    .option('--resolver <name>', 'machine resolver name, e.g. keylime')
    .option('--any-machine', 'no machine: an unbound binding (offline tokens, ssh by service_id)')
    .option('--option <key=value>', 'binding option, e.g. user=root, service_id=git, slot=1, count=100 (repeatable)', collect)
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  keylime-ts machine attach-token --serial SSHK00011A2B --application ssh --hostname web1 --option user=root\n  keylime-ts machine attach-token --serial UBOM0001 --application luks --machineid <agent-id> --resolver keylime --option slot=1\n')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & MachineSelector & { serial: string; application: string; option?: string[] };
        const target = machineTarget(o, { anyMachine: true });
        const body: Record<string, unknown> = { serial: o.serial, application: o.application };
        if (target === 'hostname') body.hostname = o.hostname;
        if (target === 'machine') Object.assign(body, { machineid: o.machineid, resolver: o.resolver });
        if (target === 'any') body.resolver = '';
        for (const [key, value] of keyValues(o.option, '--option')) {
          if (['serial', 'application', 'hostname', 'machineid', 'resolver'].includes(key)) throw usageError(`--option ${key}=...: use --${key}`);
          body[key] = value;
        }
        const id = await withMachineApi(o, (api) => api.attachToken(body));
        if (o.json) return printJson({ id });
        printLine(`${paint.ok('attached')} ${o.serial} for ${o.application} (binding ${id})`);
      }),
    );

  sub('detach-token', 'remove bindings of a token')
    .requiredOption('--serial <serial>', 'token serial')
    .requiredOption('--application <app>', 'ssh, luks or offline')
    .option('--hostname <name>', 'the machine by exact hostname')
    .option('--machineid <id>', 'the machine by id (with --resolver)')
    .option('--resolver <name>', 'machine resolver name')
    .option('--mtid <id>', 'one binding by its id (see machine tokens)')
    .option('--any-machine', 'EVERY binding of this token for this application, bound or not (privacyIDEA semantics)')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExample:\n  keylime-ts machine detach-token --serial SSHK00011A2B --application ssh --hostname web1\n')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & MachineSelector & { serial: string; application: string };
        const target = machineTarget(o, { anyMachine: true, mtid: true });
        const removed = await withMachineApi(o, async (api) => {
          if (target === 'mtid') return api.detachBinding(o.serial, o.application, mtidOf(o.mtid!));
          if (target === 'machine') return api.detachFromMachine(o.serial, o.machineid!, o.resolver!, o.application);
          if (target === 'any') return api.detachFromMachine(o.serial, 'any machine', 'no resolver', o.application);
          // By hostname: the bindings the verifier lists for that host, removed one by one.
          const rows = await api.listBindings({ hostname: o.hostname, serial: o.serial, application: o.application });
          let count = 0;
          for (const row of rows) count += await api.detachBinding(o.serial, o.application, row.id);
          return count;
        });
        if (o.json) return printJson({ deleted: removed });
        printLine(removed ? `${paint.ok('detached')} ${removed} binding${removed === 1 ? '' : 's'}` : paint.warn('no matching binding'));
      }),
    );

  sub('tokens', 'list token bindings (by serial, or by machine with filters)')
    .option('--serial <serial>', 'token serial; * is a wildcard')
    .option('--hostname <name>', 'the machine by exact hostname')
    .option('--machineid <id>', 'the machine by id (with --resolver)')
    .option('--resolver <name>', 'machine resolver name')
    .option('--application <app>', 'ssh, luks or offline')
    .option('--filter <key=value>', 'option filter, * is a wildcard, e.g. user=root (repeatable)', collect)
    .option('--sortby <key>', 'serial (default) or an option name')
    .option('--sortdir <dir>', 'asc or desc')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  keylime-ts machine tokens --serial SSHK00011A2B\n  keylime-ts machine tokens --hostname web1 --application ssh --filter user=root --json\n')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & MachineSelector & Record<string, string | undefined> & { filter?: string[] };
        const query: Query = { serial: o.serial, hostname: o.hostname, machineid: o.machineid, resolver: o.resolver, application: o.application, sortby: o.sortby, sortdir: o.sortdir };
        for (const [key, value] of keyValues(o.filter, '--filter')) {
          if (key in query) throw usageError(`--filter ${key}=...: use --${key}`);
          query[key] = value;
        }
        const items = await withMachineApi(o, (api) => api.listBindings(query));
        if (o.json) return printJson(items);
        printBindings(items);
      }),
    );

  sub('token-option', 'set or remove options of bindings')
    .requiredOption('--serial <serial>', 'token serial')
    .requiredOption('--application <app>', 'ssh, luks or offline')
    .option('--hostname <name>', 'the machine by exact hostname')
    .option('--machineid <id>', 'the machine by id (with --resolver)')
    .option('--resolver <name>', 'machine resolver name')
    .option('--mtid <id>', 'one binding by its id (the only way to reach unbound bindings)')
    .option('--set <key=value>', 'set an option (repeatable)', collect)
    .option('--unset <key>', 'remove an option (repeatable)', collect)
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExample:\n  keylime-ts machine token-option --serial OATH0001 --application offline --mtid 4 --set count=50 --unset rounds\n')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & MachineSelector & { serial: string; application: string; set?: string[]; unset?: string[] };
        const target = machineTarget(o, { mtid: true });
        const body: Record<string, unknown> = { serial: o.serial, application: o.application };
        if (target === 'hostname') body.hostname = o.hostname;
        if (target === 'machine') Object.assign(body, { machineid: o.machineid, resolver: o.resolver });
        if (target === 'mtid') body.mtid = mtidOf(o.mtid!);
        const reserved = ['serial', 'application', 'hostname', 'machineid', 'resolver', 'mtid', 'client', 'g'];
        const sets = keyValues(o.set, '--set');
        if (sets.length === 0 && !(o.unset ?? []).length) throw usageError('nothing to do: give --set key=value or --unset key');
        for (const [key, value] of sets) {
          if (reserved.includes(key)) throw usageError(`--set ${key}: not an option name`);
          if (value === '') throw usageError(`--set ${key}=: an empty value removes the option; use --unset ${key}`);
          body[key] = value;
        }
        for (const key of o.unset ?? []) {
          if (reserved.includes(key)) throw usageError(`--unset ${key}: not an option name`);
          body[key] = '';
        }
        const result = await withMachineApi(o, (api) => api.setOptions(body));
        if (o.json) return printJson(result);
        printLine(`${paint.ok('options')} added ${result.added}, removed ${result.deleted}`);
      }),
    );

  sub('authitem', "a machine's authentication items: SSH keys, LUKS responses, offline OTP values")
    .requiredOption('--hostname <name>', 'the machine by exact hostname (an agent id works too)')
    .addOption(new Option('--application <app>', 'only this application').choices(['ssh', 'luks', 'offline']))
    .option('--challenge <text>', 'luks: hex challenge; offline: PIN+OTP')
    .option('--user <login>', 'ssh: only keys bound for this user')
    .option('--service-id <id>', 'ssh: keys of this service id (administrators only)')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      '\nItems are handed out only while the machine\'s agent passes attestation; otherwise the command\n' +
        'prints the failure event and exits 1. Without --json, ssh items print as authorized_keys lines.\n' +
        'Offline items advance the token counter on every call.\n' +
        '\nExample (sshd_config on the machine, with its own certificate; %u is the login user):\n' +
        '  AuthorizedKeysCommand /usr/bin/keylime-ts machine authitem --hostname <agent-id> --application ssh --user %u --verifier <verifier>:8881 --cert-dir /etc/keylime-ts --cert-name <agent-id>\n',
    )
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & { hostname: string; application?: string; challenge?: string; user?: string; serviceId?: string };
        const value = await withMachineApi(o, (api) =>
          api.authItems({ hostname: o.hostname, challenge: o.challenge, user: o.user, service_id: o.serviceId }, o.application),
        );
        if (o.json) return printJson(value);
        printAuthItems(value);
      }),
    );

  registerResolverCommands(machine);
}

function registerResolverCommands(machine: Command): void {
  const resolver = machine.command('resolver').description('machine resolvers: where machines come from (keylime agents, hosts files)');
  machineApiOptions(resolver.command('list').description('configured machine resolvers'))
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags;
        const resolvers = await withMachineApi(o, (api) => api.listResolvers());
        if (o.json) return printJson(resolvers);
        for (const r of Object.values(resolvers)) printLine(`${r.resolvername.padEnd(16)} ${r.type.padEnd(8)} ${optionsText(r.data)}`);
      }),
    );
  machineApiOptions(resolver.command('set').description('create or update a resolver').argument('<name>', 'resolver name (letters, digits, _ - .)'))
    .addOption(new Option('--type <type>', 'resolver type').choices(['hosts', 'keylime']).makeOptionMandatory())
    .option('--filename <path>', 'hosts: the hosts file on the verifier host')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExample:\n  keylime-ts machine resolver set lab --type hosts --filename /etc/keylime-ts/lab-hosts\n')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags & { type: string; filename?: string };
        if (o.type === 'hosts' && !o.filename) throw usageError('--type hosts needs --filename');
        const id = await withMachineApi(o, (api) => api.setResolver(name, { type: o.type, ...(o.filename ? { filename: o.filename } : {}) }));
        if (o.json) return printJson({ id });
        printLine(`${paint.ok('resolver')} ${name} (id ${id})`);
      }),
    );
  machineApiOptions(resolver.command('delete').description('delete a resolver (its bindings stay, orphaned)').argument('<name>', 'resolver name'))
    .option('--json', 'print one JSON document on stdout')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const o = cmd.optsWithGlobals() as Flags;
        const id = await withMachineApi(o, (api) => api.deleteResolver(name));
        if (o.json) return printJson({ id });
        printLine(`${paint.ok('deleted')} resolver ${name}`);
      }),
    );
}
