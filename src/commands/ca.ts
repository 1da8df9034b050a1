import { Option, type Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { caDir, resolveDataDir } from '../config.js';
import { CA_FILES, initCa, issueCertificate, recoverInterruptedInit, type LeafKind } from '../crypto/ca.js';
import { describeCaDir, describeCertificate, type CertificateInfo } from '../crypto/cert-info.js';
import { action, paint, printJson, printLine } from './output.js';

interface DirOptions {
  dataDir?: string;
  dir?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function targetDir(o: DirOptions): string {
  return o.dir ?? caDir(resolveDataDir(o.dataDir));
}

const caPassword = (): string | undefined => process.env.KEYLIME_TS_CA_PASSWORD || undefined;

function withDirOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory; the CA lives in <data-dir>/cv_ca (env KEYLIME_TS_HOME)')
    .addOption(new Option('--dir <dir>', 'the CA directory itself, overriding --data-dir').env('KEYLIME_TS_CA_DIR'))
    .option('--json', 'print one JSON document on stdout');
}

function printCertificate(c: CertificateInfo): void {
  printLine(paint.bold(c.file));
  if (c.keyType === 'unreadable') {
    printLine(`  ${paint.bad('not a readable certificate')}`);
    return;
  }
  const trust = c.subject === c.issuer ? 'self-signed' : c.issuedByCa ? paint.ok('signed by this CA') : paint.bad('NOT signed by this CA');
  printLine(`  subject   ${c.subject}`);
  printLine(`  issuer    ${c.issuer} (${trust})`);
  printLine(`  serial    ${c.serial}${c.isCa ? '   CA: yes' : ''}   key: ${c.keyType}`);
  printLine(`  valid     ${c.notBefore} .. ${c.notAfter}${c.expired ? ' ' + paint.bad('EXPIRED') : ''}`);
  if (c.subjectAltNames.length) printLine(`  SANs      ${c.subjectAltNames.join(', ')}`);
  printLine(`  sha256    ${c.sha256}`);
  printLine(`  sha1      ${c.sha1}`);
}

export function registerCa(program: Command): void {
  const ca = program
    .command('ca')
    .description("the mTLS certificate authority (Keylime's cv_ca): CA, server and client certificates")
    .addHelpText(
      'after',
      '\nThe directory layout is the one Keylime\'s verifier generates (tls_dir = generate), so real\n' +
        'Keylime components can use it. The CA key is kept in private.yml, encrypted with the\n' +
        'keystore password from KEYLIME_TS_CA_PASSWORD (Keylime\'s default: "default").\n',
    );

  withDirOptions(
    ca
      .command('init')
      .description('create a CA with a server and a client certificate (cacert.crt, server-*, client-*, private.yml, CRL)')
      .option('--host <host>', 'extra host name or IP for the server certificate (repeatable)', collect)
      .option('--force', 'replace an existing CA (old certificates stop being trusted)'),
  )
    .addHelpText('after', '\nExample:\n  keylime-ts ca init --data-dir /var/lib/keylime-ts --host verifier.example.org --host 10.0.0.5\n')
    .action(
      action(async (o: DirOptions & { host?: string[]; force?: boolean }) => {
        const result = await initCa(targetDir(o), { hosts: o.host, force: Boolean(o.force), password: caPassword() });
        const description = describeCaDir(result.dir);
        if (o.json) {
          printJson({ dir: result.dir, replaced: result.replaced, files: result.files, certificates: description.certificates });
          return;
        }
        printLine(`${paint.ok(result.replaced ? 'Replaced the CA' : 'Created a CA')} in ${result.dir}`);
        for (const c of description.certificates) printCertificate(c);
        printLine(`files     ${result.files.join(' ')}`);
      }),
    );

  withDirOptions(ca.command('show').description('subject, issuer, validity, SANs and fingerprints of every certificate in the CA directory'))
    .addHelpText('after', '\nExample:\n  keylime-ts ca show --json\n')
    .action(
      action((o: DirOptions) => {
        const dir = targetDir(o);
        recoverInterruptedInit(dir);
        const description = describeCaDir(dir);
        if (o.json) {
          printJson(description);
          return;
        }
        printLine(`CA directory ${description.dir}`);
        for (const c of description.certificates) printCertificate(c);
      }),
    );

  withDirOptions(
    ca
      .command('issue')
      .description('issue one more server or client certificate signed by the CA (<name>-cert.crt, <name>-private.pem)')
      .addOption(new Option('--kind <kind>', 'server (TLS server auth, host SANs) or client (TLS client auth)').choices(['server', 'client']).makeOptionMandatory())
      .requiredOption('--name <name>', 'common name and file prefix')
      .option('--host <host>', 'extra host name or IP SAN (repeatable)', collect)
      .option('--out <dir>', 'write the files here (with a copy of cacert.crt) instead of the CA directory')
      .option('--force', 'replace an existing certificate of that name'),
  )
    .addHelpText('after', '\nExamples:\n  keylime-ts ca issue --kind client --name tenant-ops --out ./tenant-ops\n  keylime-ts ca issue --kind server --name registrar --host registrar.example.org\n')
    .action(
      action(async (o: DirOptions & { kind: LeafKind; name: string; host?: string[]; out?: string; force?: boolean }) => {
        const dir = targetDir(o);
        const issued = await issueCertificate(dir, {
          kind: o.kind,
          name: o.name,
          hosts: o.host,
          outDir: o.out,
          force: Boolean(o.force),
          password: caPassword(),
        });
        const caCert = new X509Certificate(readFileSync(join(dir, CA_FILES.caCert)));
        const info = describeCertificate(new X509Certificate(issued.certPem), issued.files.cert, caCert);
        if (o.json) {
          const { certPem: _cert, keyPem: _key, ...rest } = issued;
          printJson({ ...rest, certificate: info });
          return;
        }
        printLine(`${paint.ok(`Issued ${issued.kind} certificate`)} ${issued.name} (serial ${issued.serial})`);
        printLine(`  cert      ${issued.files.cert}`);
        printLine(`  key       ${issued.files.privateKey}`);
        printLine(`  public    ${issued.files.publicKey}`);
        if (info.subjectAltNames.length) printLine(`  SANs      ${info.subjectAltNames.join(', ')}`);
        printLine(`  sha256    ${info.sha256}`);
        for (const w of issued.warnings) process.stderr.write(`keylime-ts: warning: ${w}\n`);
      }),
    );
}
