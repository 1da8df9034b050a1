import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { DEFAULT_PORTS, resolveDataDir } from '../config.js';
import { MB_POLICY_NAMES } from '../mboot/index.js';
import { startVerifier } from '../servers/verifier/server.js';
import type { RevocationTarget } from '../servers/verifier/revocation.js';
import { SeverityPolicy } from '../servers/verifier/severity.js';
import { action, usageError } from './output.js';
import { parsePort, runUntilSignal, serverLogger, serverOptions } from './serve.js';

interface VerifierFlags {
  host: string;
  port: number;
  dataDir?: string;
  logJson?: boolean;
  certDir?: string;
  verifierId: string;
  quoteInterval: number;
  retryInterval: number;
  maxRetries: number;
  exponentialBackoff: boolean;
  requestTimeout: number;
  severityPolicy?: string;
  webhook?: string;
  revocationNotify?: RevocationTarget[];
  metricsPort?: number;
  concurrency: number;
  measuredBootPolicy: string;
  measuredBootEvaluate: 'once' | 'always';
  ignoreTomtouErrors?: boolean;
}

function seconds(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a number of seconds (0 or more), not ${value}`);
    return n;
  };
}

function count(flag: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min) throw new Error(`${flag} must be a whole number of at least ${min}, not ${value}`);
    return n;
  };
}

function notifyTargets(value: string): RevocationTarget[] {
  const targets = value.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of targets) {
    if (t === 'zeromq') throw new Error('zeromq revocation notifications are not supported; use agent and/or webhook');
    if (t !== 'agent' && t !== 'webhook') throw new Error(`unknown revocation target '${t}' (use agent, webhook or both: agent,webhook)`);
  }
  return targets as RevocationTarget[];
}

function readSeverityPolicy(file: string): SeverityPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw usageError(`cannot read --severity-policy ${file}: ${(e as Error).message}`);
  }
  return SeverityPolicy.parse(text);
}

export function registerVerifier(program: Command): void {
  const verifier = program.command('verifier').description('the verifier: keeps attesting every enrolled machine and reacts when one stops being trustworthy');
  serverOptions(verifier.command('start'), { port: DEFAULT_PORTS.verifier })
    .description('run the verifier in the foreground: mTLS REST API for the tenant, continuous attestation of agents')
    .addOption(new Option('--cert-dir <dir>', 'CA directory with cacert.crt and server/client certificates (default <data-dir>/cv_ca, created on first start)').env('KEYLIME_TS_CERT_DIR'))
    .addOption(new Option('--verifier-id <id>', 'this verifier\'s id (Keylime [verifier] uuid); it polls only its own agents').env('KEYLIME_TS_VERIFIER_ID').default('default'))
    .addOption(new Option('--quote-interval <seconds>', 'time between two quotes of one agent (0: back to back)').env('KEYLIME_TS_QUOTE_INTERVAL').default(2).argParser(seconds('--quote-interval')))
    .addOption(new Option('--retry-interval <seconds>', 'base of the retry delay when an agent does not answer').env('KEYLIME_TS_RETRY_INTERVAL').default(2).argParser(seconds('--retry-interval')))
    .addOption(new Option('--max-retries <n>', 'retries before an unreachable agent is marked Failed').env('KEYLIME_TS_MAX_RETRIES').default(5).argParser(count('--max-retries', 0)))
    .addOption(new Option('--no-exponential-backoff', 'wait --retry-interval between retries instead of interval^n').env('KEYLIME_TS_NO_EXPONENTIAL_BACKOFF'))
    .addOption(new Option('--request-timeout <seconds>', 'timeout of each request to an agent').env('KEYLIME_TS_REQUEST_TIMEOUT').default(60).argParser(seconds('--request-timeout')))
    .addOption(new Option('--severity-policy <file>', 'JSON severity policy: [{"event_id": regex, "severity_label": label}, ...] or {"severity_labels": [...], "severity_policy": [...]}').env('KEYLIME_TS_SEVERITY_POLICY'))
    .addOption(new Option('--webhook <url>', 'POST revocation notifications to this URL too').env('KEYLIME_TS_WEBHOOK'))
    .addOption(new Option('--revocation-notify <targets>', 'where revocation notifications go: agent, webhook or agent,webhook (default: agent, plus webhook when --webhook is set)').env('KEYLIME_TS_REVOCATION_NOTIFY').argParser(notifyTargets))
    .addOption(new Option('--metrics-port <port>', 'also serve GET /metrics (Prometheus text) as plain HTTP on this loopback port').env('KEYLIME_TS_METRICS_PORT').argParser(parsePort))
    .addOption(new Option('--measured-boot-policy <engine>', 'measured boot policy engine that agents\' mb_policy refstates feed').env('KEYLIME_TS_MEASURED_BOOT_POLICY').choices(MB_POLICY_NAMES).default('accept-all'))
    .addOption(new Option('--measured-boot-evaluate <when>', 'evaluate the measured boot policy on the first attestation only, or on every one').env('KEYLIME_TS_MEASURED_BOOT_EVALUATE').choices(['once', 'always']).default('once'))
    .addOption(new Option('--ignore-tomtou-errors', 'Keylime\'s ignore_tomtou_errors (sic): report IMA time-of-measure/time-of-use entries as failures').env('KEYLIME_TS_IGNORE_TOMTOU_ERRORS'))
    .addOption(new Option('--concurrency <n>', 'agents polled at the same time, at most').env('KEYLIME_TS_CONCURRENCY').default(64).argParser(count('--concurrency', 1)))
    .addHelpText(
      'after',
      '\nThe REST API (/v2.0 .. /v2.5) needs a client certificate signed by the CA in --cert-dir, except\n' +
        'GET /version, /versions, /healthz and /verify/identity. Agents are polled over mTLS with the CA\'s\n' +
        'client certificate; each agent\'s registered mtls_cert is trusted as its server certificate.\n' +
        'Every agent of this --verifier-id that was being attested resumes when the verifier starts.\n' +
        'Stop with SIGTERM or Ctrl-C: counters are flushed to <data-dir>/verifier-agents.json.\n\n' +
        'Example:\n  keylime-ts verifier start --data-dir /var/lib/keylime-ts --quote-interval 2 \\\n' +
        '      --webhook https://alerts.example.net/keylime --metrics-port 9100\n',
    )
    .action(
      action(async (flags: VerifierFlags) => {
        const log = serverLogger('verifier', flags.logJson);
        const severity = flags.severityPolicy ? readSeverityPolicy(flags.severityPolicy) : undefined;
        const targets = flags.revocationNotify ?? (flags.webhook ? ['agent', 'webhook'] : ['agent']);
        if (targets.includes('webhook') && !flags.webhook) throw usageError('--revocation-notify includes webhook but no --webhook URL is given');
        if (flags.webhook) {
          try {
            const url = new URL(flags.webhook);
            if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
          } catch {
            throw usageError(`--webhook must be an http:// or https:// URL, not ${flags.webhook}`);
          }
        }
        const running = await startVerifier({
          host: flags.host,
          port: flags.port,
          dataDir: resolveDataDir(flags.dataDir),
          certDir: flags.certDir,
          verifierId: flags.verifierId,
          quoteIntervalSeconds: flags.quoteInterval,
          retry: { retryInterval: flags.retryInterval, maxRetries: flags.maxRetries, exponentialBackoff: flags.exponentialBackoff },
          requestTimeoutMs: Math.max(1, flags.requestTimeout * 1000),
          severity,
          revocation: { targets, webhookUrl: flags.webhook },
          metricsPort: flags.metricsPort,
          concurrency: flags.concurrency,
          measuredBootPolicyName: flags.measuredBootPolicy,
          measuredBootEvaluate: flags.measuredBootEvaluate,
          ignoreTomtouErrors: Boolean(flags.ignoreTomtouErrors),
          logger: log,
        });
        return runUntilSignal(log, () => running.close());
      }),
    );
}
