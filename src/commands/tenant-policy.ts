import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { invalidInput } from '../errors.js';
import { deletePolicy, listPolicies, showPolicy, storePolicy, type PolicyKind } from '../tenant/policies.js';
import { action, printJson, printLine } from './output.js';
import { withTenant, type TenantGlobalFlags } from './tenant-context.js';

function readDocument(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw invalidInput(`cannot read ${file}`);
  }
}

function policyGroup(tenant: Command, name: string, kind: PolicyKind, what: string): void {
  const group = tenant.command(name).description(`named ${what}s stored at the verifier`);
  const flags = (cmd: Command) => cmd.optsWithGlobals() as TenantGlobalFlags & { name: string; file?: string };

  for (const verb of ['add', 'update'] as const) {
    const cmd = group.command(verb);
    if (kind === 'runtime') cmd.option('--key <pem>', 'public key the DSSE-signed policy must verify under (checked by the verifier)');
    cmd
      .description(verb === 'add' ? `store a new ${what} (409 if the name exists)` : `replace a stored ${what}`)
      .requiredOption('--name <name>', 'policy name')
      .requiredOption('--file <file>', `the ${what} (JSON)`)
      .action(
        action(async (_o: unknown, cmd: Command) => {
          const f = flags(cmd);
          const key = (f as { key?: string }).key;
          await withTenant(f, (ctx) => storePolicy(ctx, kind, f.name, readDocument(f.file!), verb === 'update', key ? readDocument(key) : undefined));
          if (f.json) printJson({ name: f.name, result: verb === 'add' ? 'added' : 'updated' });
          else printLine(`${what} '${f.name}' ${verb === 'add' ? 'added' : 'updated'}`);
        }),
      );
  }
  group
    .command('show')
    .description(`print a stored ${what}`)
    .requiredOption('--name <name>', 'policy name')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = flags(cmd);
        const result = await withTenant(f, (ctx) => showPolicy(ctx, kind, f.name));
        const doc = kind === 'runtime' ? result.runtime_policy : result.mb_policy;
        if (f.json) printJson(result);
        else printLine(typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
      }),
    );
  group
    .command('list')
    .description(`names of the stored ${what}s`)
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = flags(cmd);
        const names = await withTenant(f, (ctx) => listPolicies(ctx, kind));
        if (f.json) printJson({ names });
        else printLine(names.length ? names.join('\n') : `no ${what}s`);
      }),
    );
  group
    .command('delete')
    .description(`delete a stored ${what} (409 while an agent uses it)`)
    .requiredOption('--name <name>', 'policy name')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const f = flags(cmd);
        await withTenant(f, (ctx) => deletePolicy(ctx, kind, f.name));
        if (f.json) printJson({ name: f.name, result: 'deleted' });
        else printLine(`${what} '${f.name}' deleted`);
      }),
    );
}

export function registerTenantPolicies(tenant: Command): void {
  policyGroup(tenant, 'runtime-policy', 'runtime', 'runtime policy');
  policyGroup(tenant, 'mb-policy', 'mb', 'measured boot policy');
}
