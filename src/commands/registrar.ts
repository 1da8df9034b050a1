import { Option, type Command } from 'commander';
import { caDir, DEFAULT_PORTS, resolveDataDir } from '../config.js';
import { serverTlsMaterial } from '../servers/http/ca-material.js';
import { startRegistrar } from '../servers/registrar/server.js';
import { action } from './output.js';
import { parsePort, runUntilSignal, serverLogger, serverOptions } from './serve.js';

interface RegistrarFlags {
  host: string;
  port: number;
  tlsPort: number;
  dataDir?: string;
  tpmCertStore?: string;
  requireEkCert?: boolean;
  certDir?: string;
  logJson?: boolean;
}

export function registerRegistrar(program: Command): void {
  const registrar = program.command('registrar').description('the registrar: where a machine\'s TPM identity (EK) and attestation key (AK) are tied together');
  serverOptions(registrar.command('start'), { port: DEFAULT_PORTS.registrar })
    .description('run the registrar in the foreground: plain HTTP for agents, mTLS for the tenant')
    .addOption(new Option('--tls-port <port>', 'mTLS port for the tenant').env('KEYLIME_TS_TLS_PORT').default(String(DEFAULT_PORTS.registrarTls)).argParser(parsePort))
    .addOption(new Option('--tpm-cert-store <dir>', 'PEM roots and intermediates that EK certificates must chain to').env('KEYLIME_TS_TPM_CERT_STORE'))
    .addOption(new Option('--require-ek-cert', 'refuse agents whose EK certificate is missing or untrusted (403)').env('KEYLIME_TS_REQUIRE_EK_CERT'))
    .addOption(new Option('--cert-dir <dir>', 'CA directory with server-cert.crt, server-private.pem, cacert.crt (default <data-dir>/cv_ca, created if missing)').env('KEYLIME_TS_CERT_DIR'))
    .addHelpText(
      'after',
      '\nAgents register and activate on --port (plain HTTP, as Keylime). The tenant lists, reads and\n' +
        'deletes agents on --tls-port with a client certificate signed by the CA in --cert-dir.\n\n' +
        'Example:\n  keylime-ts registrar start --data-dir /var/lib/keylime-ts --tpm-cert-store /etc/keylime-ts/tpm_cert_store --require-ek-cert\n',
    )
    .action(
      action(async (flags: RegistrarFlags) => {
        const log = serverLogger('registrar', flags.logJson);
        const dataDir = resolveDataDir(flags.dataDir);
        const tls = await serverTlsMaterial(flags.certDir ?? caDir(dataDir), { hosts: [flags.host], log });
        const running = await startRegistrar({
          host: flags.host,
          port: flags.port,
          tlsPort: flags.tlsPort,
          dataDir,
          tls: { cert: tls.cert, key: tls.key, ca: [tls.ca] },
          tpmCertStore: flags.tpmCertStore,
          requireEkCert: Boolean(flags.requireEkCert),
          logger: log,
        });
        return runUntilSignal(log, () => running.close());
      }),
    );
}
