import { Option, type Command } from 'commander';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PORTS, parseHostPort, resolveDataDir } from '../config.js';
import { CertStore } from '../crypto/ek-cert.js';
import { KeylimeError, invalidInput, isKeylimeError } from '../errors.js';
import { addAgent, type AddAgentOptions, type PayloadInput } from '../tenant/add-agent.js';
import {
  agentStatus,
  deleteFromVerifier,
  listAgents,
  registrarDelete,
  registrarList,
  registrarStatus,
  verifierAction,
  type AgentStatusSummary,
} from '../tenant/status.js';
import { action, paint, printJson, printLine } from './output.js';
import { spinner, tenantGlobalOptions, withTenant, type TenantGlobalFlags } from './tenant-context.js';
import { registerTenantPolicies } from './tenant-policy.js';

type Flags = TenantGlobalFlags & Record<string, unknown>;

function globals(cmd: Command): Flags {
  return cmd.optsWithGlobals() as Flags;
}

/** A JSON argument given inline or as a file path. */
export function jsonOrFile(value: string, what: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return trimmed;
  try {
    return readFileSync(value, 'utf8');
  } catch {
    throw invalidInput(`${what}: ${value} is neither inline JSON nor a readable file`);
  }
}

function readFileArg(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw invalidInput(`${what}: cannot read ${path}`);
  }
}

function includeDir(dir: string): PayloadInput {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw invalidInput(`--include: cannot read directory ${dir}`);
  }
  const entries = names
    .filter((n) => statSync(join(dir, n)).isFile())
    .sort()
    .map((name) => ({ name, data: readFileSync(join(dir, name)), mode: statSync(join(dir, name)).mode & 0o777 }));
  return { kind: 'zip', entries };
}

function ago(epochSeconds: number | null): string {
  if (!epochSeconds) return 'never';
  const s = Math.max(0, Math.round(Date.now() / 1000 - epochSeconds));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function stateText(s: AgentStatusSummary): string {
  const text = `${s.state}${s.attestation_status ? ` (${s.attestation_status})` : ''}`;
  return s.attestation_status === 'FAIL' ? paint.bad(text) : s.attestation_status === 'PASS' ? paint.ok(text) : text;
}

function withAddAgentOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--uuid <id>', 'agent id')
    .option('--agent <host:port>', 'agent address (default: the contact address it registered)')
    .option('--tpm-policy <json|file>', 'PCR allowlist, e.g. \'{"15": ["0000..."]}\'')
    .option('--runtime-policy <file>', 'IMA runtime policy (JSON, format v1)')
    .option('--runtime-policy-name <name>', 'store the runtime policy under this name, or use a stored one')
    .option('--runtime-policy-key <pem>', 'public key a DSSE-signed --runtime-policy must verify under (checked by the verifier)')
    .option('--mb-policy <file>', 'measured-boot reference state (JSON)')
    .option('--mb-policy-name <name>', 'store the measured-boot policy under this name, or use a stored one')
    .option('--payload <file>', 'file delivered encrypted to the agent')
    .option('--include <dir>', 'deliver the files of this directory as a zip package (with a revocation certificate)')
    .addOption(new Option('--tpm-cert-store <dir>', 'roots and intermediates EK certificates must chain to (default <data-dir>/tpm_cert_store)').env('KEYLIME_TS_TPM_CERT_STORE'))
    .option('--no-require-ek-cert', 'accept an agent whose EK certificate is missing or untrusted (dangerous)')
    .option('--verify', 'wait until the agent proves it derived the bootstrap key')
    .option('--wait', 'wait until the verifier attests the agent (Get Quote)')
    .option('--timeout <s>', 'seconds to wait with --wait', '60')
    .addHelpText(
      'after',
      '\nExit status: 0 enrolled (and attested with --wait), 1 refused or attestation failed (event id printed),\n' +
        '2 bad input, 3 a server or the agent could not be reached, 4 the agent is not registered.\n\n' +
        'Example:\n  keylime-ts tenant add-agent --uuid d432fbb3-d2f1-4a97-9ef7-75bd81c00000 \\\n' +
        '    --tpm-policy \'{"15": ["' + '0'.repeat(64) + '"]}\' --payload secret.txt --verify --wait\n',
    );
}

async function loadCertStore(f: Flags): Promise<CertStore> {
  const explicit = f.tpmCertStore as string | undefined;
  const dir = explicit ?? join(resolveDataDir(f.dataDir), 'tpm_cert_store');
  // Without --require-ek-cert a missing default store is not an error: the check just fails softly.
  if (f.requireEkCert === false && !explicit && !existsSync(dir)) return new CertStore([]);
  return CertStore.load(dir);
}

async function runAddAgent(f: Flags): Promise<void> {
  if (f.payload && f.include) throw invalidInput('give --payload or --include, not both');
  const opts: AddAgentOptions = {
    agentId: f.uuid as string,
    agent: f.agent ? parseHostPort(f.agent as string, DEFAULT_PORTS.agent) : undefined,
    tpmPolicy: f.tpmPolicy ? jsonOrFile(f.tpmPolicy as string, '--tpm-policy') : undefined,
    runtimePolicy: f.runtimePolicy ? readFileArg(f.runtimePolicy as string, '--runtime-policy').toString('utf8') : undefined,
    runtimePolicyName: f.runtimePolicyName as string | undefined,
    runtimePolicyKey: f.runtimePolicyKey ? readFileArg(f.runtimePolicyKey as string, '--runtime-policy-key').toString('utf8') : undefined,
    mbPolicy: f.mbPolicy ? readFileArg(f.mbPolicy as string, '--mb-policy').toString('utf8') : undefined,
    mbPolicyName: f.mbPolicyName as string | undefined,
    payload: f.payload ? { kind: 'file', data: readFileArg(f.payload as string, '--payload') } : f.include ? includeDir(f.include as string) : undefined,
    certStore: await loadCertStore(f),
    requireEkCert: f.requireEkCert !== false,
    verify: Boolean(f.verify),
    wait: Boolean(f.wait),
    timeoutSeconds: Number(f.timeout),
  };
  const spin = spinner(f.json);
  opts.onStep = (text) => spin.step(text);
  const started = performance.now();
  try {
    const result = await withTenant(f, (ctx) => addAgent(ctx, opts));
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    spin.succeed(`Agent ${result.agent_id} enrolled in ${seconds}s`);
    if (f.json) {
      printJson({ ...result, status: result.status ? { ...result.status, raw: undefined } : undefined, seconds: Number(seconds) });
    } else {
      printLine(`${paint.ok('enrolled')} ${result.agent_id} (agent API ${result.agent_api_version}, EK certificate ${result.ek_certificate.status})`);
      if (result.payload_delivered) printLine(`  payload delivered${result.key_verified ? ', key derivation verified' : ''}`);
      if (result.status) printLine(`  ${stateText(result.status)}, ${result.status.attestation_count} attestation(s)`);
    }
  } catch (e) {
    spin.fail();
    throw e;
  }
}

export function registerTenant(program: Command): void {
  const tenant = tenantGlobalOptions(
    program.command('tenant').description('enroll machines, read their attestation state, and manage policies at the verifier'),
  ).addHelpText('after', '\nWorks with keylime-ts servers and with real Keylime ones (same REST API, same cv_ca client certificates).\n');

  withAddAgentOptions(tenant.command('add-agent'))
    .description('enroll an agent: identity quote, EK check, bootstrap key and payload, then continuous attestation at the verifier')
    .action(action(async (_o: unknown, cmd: Command) => runAddAgent(globals(cmd))));

  withAddAgentOptions(tenant.command('update-agent'))
    .description('re-enroll an agent: delete it from the verifier (if there), then add it again with these options')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = globals(cmd);
        await withTenant(f, (ctx) =>
          deleteFromVerifier(ctx, f.uuid as string).catch((e: unknown) => {
            if (isKeylimeError(e) && e.code === 'not_found') return;
            throw e;
          }),
        );
        await runAddAgent(f);
      }),
    );

  tenant
    .command('status')
    .description('registrar and verifier state of an agent')
    .requiredOption('--uuid <id>', 'agent id')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = globals(cmd);
        const s = await withTenant(f, (ctx) => agentStatus(ctx, f.uuid as string));
        if (f.json) {
          printJson({ agent_id: s.agent_id, registrar: s.registrar, verifier: s.verifier ? { ...s.verifier.raw, state: s.verifier.state } : null });
          return;
        }
        printLine(paint.bold(`agent ${s.agent_id}`));
        if (s.registrar) {
          printLine(`  registrar   registered, regcount ${String(s.registrar.regcount)}, EK certificate ${String(s.registrar.ek_cert_status ?? (s.registrar.ekcert ? 'present' : 'absent'))}`);
        } else printLine(`  registrar   ${paint.warn('not registered (or not activated)')}`);
        const v = s.verifier;
        if (!v) {
          printLine(`  verifier    ${paint.warn('not added')}`);
          return;
        }
        printLine(`  state       ${stateText(v)}`);
        printLine(`  attested    ${v.attestation_count} time(s), last success ${ago(v.last_successful_attestation)}`);
        if (v.last_event_id) printLine(`  last event  ${paint.bad(v.last_event_id)} (severity ${v.severity_level ?? '-'})`);
        printLine(`  address     ${v.ip ?? '?'}:${v.port ?? '?'}, verifier ${v.verifier_id ?? '?'}`);
      }),
    );

  tenant
    .command('list')
    .description('every agent of the verifier with its state')
    .option('--verifier-id <id>', 'only agents of this verifier id')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = globals(cmd);
        const agents = await withTenant(f, (ctx) => listAgents(ctx, f.verifierId as string | undefined));
        if (f.json) {
          printJson(agents.map((a) => ({ ...a, raw: undefined })));
          return;
        }
        if (agents.length === 0) {
          printLine('no agents');
          return;
        }
        printLine(paint.dim(`${'AGENT'.padEnd(38)} ${'STATE'.padEnd(26)} ${'COUNT'.padStart(7)}  ${'LAST SUCCESS'.padEnd(13)} ${'LAST EVENT'}`));
        for (const a of agents) {
          const state = `${a.state}${a.attestation_status ? ` (${a.attestation_status})` : ''}`;
          printLine(`${a.agent_id.padEnd(38)} ${state.padEnd(26)} ${String(a.attestation_count).padStart(7)}  ${ago(a.last_successful_attestation).padEnd(13)} ${a.last_event_id ?? ''}`);
        }
      }),
    );

  const simple = (name: string, description: string, run: (ctx: Parameters<Parameters<typeof withTenant>[1]>[0], id: string) => Promise<void>, done: string) =>
    tenant
      .command(name)
      .description(description)
      .requiredOption('--uuid <id>', 'agent id')
      .action(
        action(async (_o: unknown, cmd: Command) => {
          const f = globals(cmd);
          await withTenant(f, (ctx) => run(ctx, f.uuid as string));
          if (f.json) printJson({ agent_id: f.uuid, result: done });
          else printLine(`${f.uuid as string}: ${done}`);
        }),
      );

  simple('delete-agent', 'remove an agent from the verifier (waits until it is gone); the registrar keeps it', (ctx, id) => deleteFromVerifier(ctx, id), 'deleted from the verifier');
  simple('reactivate', 'restart attestation of an agent (after a failure, once the cause is fixed)', (ctx, id) => verifierAction(ctx, id, 'reactivate'), 'reactivated');
  simple('stop', 'stop attesting an agent; its record stays (state Tenant Quote Failed)', (ctx, id) => verifierAction(ctx, id, 'stop'), 'stopped');
  simple('regdelete', 'remove an agent from the registrar', (ctx, id) => registrarDelete(ctx, id), 'deleted from the registrar');

  tenant
    .command('reglist')
    .description('agent ids known to the registrar')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = globals(cmd);
        const ids = await withTenant(f, (ctx) => registrarList(ctx));
        if (f.json) printJson({ uuids: ids });
        else printLine(ids.length ? ids.join('\n') : 'no agents');
      }),
    );

  tenant
    .command('regstatus')
    .description("an agent's registrar record")
    .requiredOption('--uuid <id>', 'agent id')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = globals(cmd);
        const r = await withTenant(f, async (ctx) => {
          const found = await registrarStatus(ctx, f.uuid as string);
          if (!found) throw new KeylimeError('not_found', `${ctx.describe('registrar')} does not know agent ${String(f.uuid)} (or it is not activated yet)`);
          return found;
        });
        if (f.json) printJson(r);
        else {
          printLine(paint.bold(`agent ${String(f.uuid)} (registrar)`));
          for (const k of ['ip', 'port', 'regcount', 'ek_cert_status', 'ek_cert_reason']) if (r[k] !== undefined) printLine(`  ${k.padEnd(15)} ${String(r[k])}`);
          printLine(`  ${'ekcert'.padEnd(15)} ${r.ekcert ? 'present' : 'none'}`);
          printLine(`  ${'mtls_cert'.padEnd(15)} ${r.mtls_cert === 'disabled' || !r.mtls_cert ? String(r.mtls_cert) : 'present'}`);
        }
      }),
    );

  registerTenantPolicies(tenant);
}
