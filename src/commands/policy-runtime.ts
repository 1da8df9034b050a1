import type { Command } from 'commander';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { KeylimeError, invalidInput } from '../errors.js';
import { rootfsDigests } from '../tools/rootfs-digests.js';
import {
  compileRuntimePolicy,
  convertLegacyAllowlist,
  createRuntimePolicy,
  isHashAlg,
  parseExcludeList,
  parseRuntimePolicy,
  signDsseEnvelope,
  testImaList,
  verifyDsseEnvelope,
  type HashAlg,
} from '../ima/index.js';
import { action, paint, printJson, printLine } from './output.js';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new KeylimeError('not_found', `${what}: cannot read ${path}`);
  }
}

/** Writes to -o FILE (0644, policies are not secret) or prints on stdout. */
function emit(text: string, out: string | undefined): void {
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}

function hashAlg(value: string, what: string): HashAlg {
  if (!isHashAlg(value)) throw invalidInput(`${what}: unknown hash algorithm ${value} (sha1, sha256, sha384, sha512)`);
  return value;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerPolicyRuntime(policy: Command): void {
  const runtime = policy.command('runtime').description('IMA runtime policies: create from a measurement list, test, convert, sign');

  runtime
    .command('create')
    .description('build a runtime policy from an IMA measurement list and/or the files of a root filesystem')
    .option('--ima-log <file>', 'ASCII IMA measurement list (e.g. a copy of /sys/kernel/security/ima/ascii_runtime_measurements)')
    .option('--rootfs <dir>', 'hash every regular file below this directory (streamed, on every core); paths are recorded as seen from the machine')
    .option('--hash-alg <alg>', 'digest algorithm for --rootfs files', 'sha256')
    .option('--exclude <regex>', 'Python regex of paths to exclude (repeatable)', collect)
    .option('--exclude-list <file>', 'file with one exclude regex per line')
    .option('--log-hash-alg <alg>', "hash of the IMA list's template-hash column (policy ima.log_hash_alg)", 'sha1')
    .option('-o, --output <file>', 'write the policy here instead of stdout')
    .addHelpText(
      'after',
      '\nExamples:\n  keylime-ts policy runtime create --ima-log ima.txt --exclude "/tmp/.*" -o policy.json\n' +
        '  keylime-ts policy runtime create --rootfs /mnt/golden-image --exclude "/var/.*" -o policy.json\n',
    )
    .action(
      action(async (o: { imaLog?: string; rootfs?: string; hashAlg: string; exclude?: string[]; excludeList?: string; logHashAlg: string; output?: string }) => {
        if (!o.imaLog && !o.rootfs) throw invalidInput('give --ima-log, --rootfs, or both');
        const excludes = [...(o.exclude ?? []), ...(o.excludeList ? parseExcludeList(readText(o.excludeList, '--exclude-list')) : [])];
        const { policy: created, skipped } = createRuntimePolicy(o.imaLog ? readText(o.imaLog, '--ima-log') : '', {
          excludes,
          logHashAlg: hashAlg(o.logHashAlg, '--log-hash-alg'),
        });
        if (o.rootfs) {
          const exclude = compileRuntimePolicy(created).exclude;
          const pseudo = /^\/(proc|sys|dev|run)(\/|$)/;
          const { digests, unreadable } = await rootfsDigests(o.rootfs, { hashAlg: hashAlg(o.hashAlg, '--hash-alg'), skip: (p) => pseudo.test(p) });
          for (const [path, digest] of digests) {
            if (exclude?.test(path)) continue;
            const list = (created.digests[path] ??= []);
            if (!list.includes(digest)) list.push(digest);
          }
          for (const u of unreadable) process.stderr.write(`${u.path} skipped: ${u.reason}\n`);
        }
        emit(JSON.stringify(created, null, 2) + '\n', o.output);
        for (const s of skipped) process.stderr.write(`line ${s.line + 1} skipped: ${s.reason}\n`);
      }),
    );

  runtime
    .command('test')
    .description('check an IMA measurement list against a runtime policy, as the verifier would')
    .requiredOption('--ima-log <file>', 'ASCII IMA measurement list')
    .requiredOption('--policy <file>', 'runtime policy (JSON or a DSSE envelope)')
    .option('--bank <alg>', 'PCR bank to replay in', 'sha256')
    .option('--pcr10 <hex>', 'also require a prefix of the list to reproduce this quoted PCR 10 value')
    .option('--json', 'print {ok, failures} as one JSON document')
    .addHelpText('after', '\nExit status: 0 the list passes, 1 it does not (reasons printed), 2 bad input.\n')
    .action(
      action((o: { imaLog: string; policy: string; bank: string; pcr10?: string; json?: boolean }) => {
        const policyDoc = parseRuntimePolicy(readText(o.policy, '--policy'));
        const result = testImaList(readText(o.imaLog, '--ima-log'), policyDoc, { bank: hashAlg(o.bank, '--bank'), quotedPcr10: o.pcr10 ?? null });
        const failures = result.failures.map((f) => ({ event_id: f.id, path: f.path, line: f.line === undefined ? undefined : f.line + 1, context: f.context }));
        if (o.json) printJson({ ok: result.ok, entries: result.logLength, pcr10: result.runningPcr10, failures });
        else if (result.ok) printLine(paint.ok(`pass: ${result.logLength} entries, PCR 10 would be ${result.runningPcr10}`));
        else for (const f of failures) printLine(`${paint.bad(f.event_id)}${f.path ? ` ${f.path}` : ''}${f.line ? ` (line ${f.line})` : ''}`);
        return result.ok ? 0 : 1;
      }),
    );

  runtime
    .command('convert')
    .description('convert a legacy allowlist (and exclude list) to a runtime policy')
    .requiredOption('--allowlist <file>', 'legacy allowlist: "<digest>  <path>" lines, or the old JSON allowlist')
    .option('--excludelist <file>', 'legacy exclude list, one regex per line')
    .option('-o, --output <file>', 'write the policy here instead of stdout')
    .action(
      action((o: { allowlist: string; excludelist?: string; output?: string }) => {
        const converted = convertLegacyAllowlist(readText(o.allowlist, '--allowlist'));
        if (o.excludelist) converted.excludes = [...new Set([...converted.excludes, ...parseExcludeList(readText(o.excludelist, '--excludelist'))])];
        emit(JSON.stringify(converted, null, 2) + '\n', o.output);
      }),
    );

  runtime
    .command('sign')
    .description('wrap a runtime policy in a DSSE envelope signed with an EC private key')
    .requiredOption('--policy <file>', 'runtime policy (JSON)')
    .requiredOption('--key <pem>', 'EC private key (PEM)')
    .option('-o, --output <file>', 'write the envelope here instead of stdout')
    .action(
      action((o: { policy: string; key: string; output?: string }) => {
        const text = readText(o.policy, '--policy');
        parseRuntimePolicy(text);
        let key;
        try {
          key = createPrivateKey(readText(o.key, '--key'));
        } catch {
          throw invalidInput(`--key: ${o.key} is not a PEM private key`);
        }
        emit(JSON.stringify(signDsseEnvelope(Buffer.from(text, 'utf8'), key)) + '\n', o.output);
      }),
    );

  runtime
    .command('verify')
    .description('check the signature of a DSSE-signed runtime policy')
    .requiredOption('--policy <file>', 'DSSE envelope')
    .requiredOption('--key <pem>', 'EC public key (PEM) or certificate')
    .option('--json', 'print {valid} as one JSON document')
    .addHelpText('after', '\nExit status: 0 valid signature, 1 invalid, 2 bad input.\n')
    .action(
      action((o: { policy: string; key: string; json?: boolean }) => {
        let envelope: unknown;
        try {
          envelope = JSON.parse(readText(o.policy, '--policy'));
        } catch (e) {
          if (e instanceof KeylimeError) throw e;
          throw invalidInput('--policy is not JSON');
        }
        let key;
        try {
          key = createPublicKey(readText(o.key, '--key'));
        } catch {
          throw invalidInput(`--key: ${o.key} is not a PEM public key or certificate`);
        }
        const { valid } = verifyDsseEnvelope(envelope, key);
        if (o.json) printJson({ valid });
        else printLine(valid ? paint.ok('valid signature') : paint.bad('INVALID signature'));
        return valid ? 0 : 1;
      }),
    );
}
