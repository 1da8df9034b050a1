import { Option, type Command } from 'commander';
import { parseHostPort, resolveDataDir, resolveTcti } from '../config.js';
import { assertEkAlg, assertHashAlg, assertSignAlg, type EkAlg } from '../tpm/algorithms.js';
import { DEFAULT_AGENT_PORT, DEFAULT_EVENT_LOG, DEFAULT_IMA_LOG, DEFAULT_REGISTRAR, startAgent } from '../servers/agent/index.js';
import { action, usageError } from './output.js';
import { parsePort, runUntilSignal, serverLogger, serverOptions } from './serve.js';

interface AgentFlags {
  uuid: string;
  host: string;
  port: number;
  contactIp?: string;
  contactPort?: number;
  registrar: string;
  tcti?: string;
  dataDir?: string;
  trustedClientCa?: string;
  hashAlg: string;
  encAlg: string;
  signAlg?: string;
  imaLog: string;
  eventLog: string;
  enablePayloadScript?: boolean;
  revocationAction?: string;
  logJson?: boolean;
}

function checkRegistrar(text: string): string {
  const { host, port } = parseHostPort(text, 8890);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw usageError(`--registrar must be HOST:PORT, got ${JSON.stringify(text)}`);
  return text;
}

export function registerAgentCommand(program: Command): void {
  const agent = program.command('agent').description('the agent: runs on the attested machine and answers quotes from its TPM');
  serverOptions(agent.command('start'), { port: DEFAULT_AGENT_PORT })
    .description('run the agent in the foreground: register with the registrar, then serve quotes and keys over mTLS')
    .addOption(new Option('--uuid <id>', 'agent id, or "hash_ek" for the SHA-256 of the EK public key').env('KEYLIME_TS_UUID').makeOptionMandatory())
    .addOption(new Option('--contact-ip <ip>', 'address the tenant and verifier use (default: --host, or 127.0.0.1 for a wildcard host)').env('KEYLIME_TS_CONTACT_IP'))
    .addOption(new Option('--contact-port <port>', 'port the tenant and verifier use (default: --port)').env('KEYLIME_TS_CONTACT_PORT').argParser(parsePort))
    .addOption(new Option('--registrar <host:port>', "registrar's agent-facing HTTP address").env('KEYLIME_TS_REGISTRAR').default(DEFAULT_REGISTRAR))
    .addOption(new Option('--tcti <tcti>', 'tpm2-tools TCTI (default $TPM2TOOLS_TCTI, else device:/dev/tpmrm0)').env('KEYLIME_TS_TCTI'))
    .addOption(new Option('--trusted-client-ca <file>', 'CA that tenant/verifier client certificates must chain to (default <data-dir>/cv_ca/cacert.crt)').env('KEYLIME_TS_TRUSTED_CLIENT_CA'))
    .addOption(new Option('--hash-alg <alg>', 'PCR bank and AK hash').env('KEYLIME_TS_HASH_ALG').choices(['sha1', 'sha256', 'sha384', 'sha512']).default('sha256'))
    .addOption(new Option('--enc-alg <alg>', 'EK and AK key type').env('KEYLIME_TS_ENC_ALG').choices(['rsa', 'ecc']).default('rsa'))
    .addOption(new Option('--sign-alg <alg>', 'AK signing scheme (default rsassa for rsa, ecdsa for ecc)').env('KEYLIME_TS_SIGN_ALG').choices(['rsassa', 'ecdsa']))
    .addOption(new Option('--ima-log <path>', 'IMA ASCII measurement list (missing: no list is sent)').env('KEYLIME_TS_IMA_LOG').default(DEFAULT_IMA_LOG))
    .addOption(new Option('--event-log <path>', 'UEFI event log (missing: no log is sent)').env('KEYLIME_TS_EVENT_LOG').default(DEFAULT_EVENT_LOG))
    .addOption(new Option('--enable-payload-script', "run a payload's autorun.sh (off by default)").env('KEYLIME_TS_ENABLE_PAYLOAD_SCRIPT'))
    .addOption(new Option('--revocation-action <cmd>', 'program run with the path of the message file on each valid revocation notification').env('KEYLIME_TS_REVOCATION_ACTION'))
    .addHelpText(
      'after',
      '\nThe agent keeps its keys, certificate and AK in --data-dir, registers with the registrar\n' +
        '(plain HTTP) and serves /v2.1 and /v2.2 over HTTPS, accepting only clients whose\n' +
        'certificate chains to --trusted-client-ca (copy the verifier\'s cv_ca/cacert.crt there).\n\n' +
        'Example:\n' +
        '  keylime-ts agent start --uuid d432fbb3-d2f1-4a97-9ef7-75bd81c00000 --registrar 10.0.0.5:8890 \\\n' +
        '    --contact-ip 10.0.0.7 --tcti swtpm:host=127.0.0.1,port=2321 --trusted-client-ca /etc/keylime-ts/cacert.crt\n',
    )
    .action(
      action(async (flags: AgentFlags) => {
        const log = serverLogger('agent', flags.logJson);
        const encAlg: EkAlg = assertEkAlg(flags.encAlg);
        // Registration may wait minutes for the registrar; SIGTERM then stops it cleanly too.
        const early = new AbortController();
        const stopEarly = () => early.abort();
        process.once('SIGTERM', stopEarly);
        process.once('SIGINT', stopEarly);
        const starting = startAgent({
          uuid: flags.uuid,
          dataDir: resolveDataDir(flags.dataDir),
          host: flags.host,
          port: flags.port,
          contactIp: flags.contactIp,
          contactPort: flags.contactPort,
          registrar: checkRegistrar(flags.registrar),
          tcti: resolveTcti(flags.tcti),
          trustedClientCa: flags.trustedClientCa,
          hashAlg: assertHashAlg(flags.hashAlg),
          encAlg,
          signAlg: flags.signAlg ? assertSignAlg(flags.signAlg, encAlg) : undefined,
          imaLog: flags.imaLog,
          eventLog: flags.eventLog,
          enablePayloadScript: Boolean(flags.enablePayloadScript),
          revocationAction: flags.revocationAction,
          signal: early.signal,
          logger: log,
        });
        let running: Awaited<typeof starting>;
        try {
          running = await starting;
        } catch (e) {
          if (!early.signal.aborted) throw e;
          log.info('stopped before registration finished');
          return 0;
        } finally {
          process.off('SIGTERM', stopEarly);
          process.off('SIGINT', stopEarly);
        }
        if (early.signal.aborted) {
          log.info('stopping', { signal: 'received during start-up' });
          await running.close();
          return 0;
        }
        log.info('agent ready', { agent_id: running.agentId, port: running.port, registrar_version: running.registrarVersion });
        return runUntilSignal(log, () => running.close());
      }),
    );
}
