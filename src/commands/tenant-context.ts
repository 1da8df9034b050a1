import { Option, type Command } from 'commander';
import ora, { type Ora } from 'ora';
import { caDir, DEFAULT_PORTS, parseHostPort, resolveDataDir } from '../config.js';
import { readTlsMaterial } from '../crypto/ca.js';
import { createLogger } from '../log.js';
import { TenantContext } from '../tenant/context.js';

export interface TenantGlobalFlags {
  registrar: string;
  verifier: string;
  certDir?: string;
  dataDir?: string;
  json?: boolean;
  requestTimeout: string;
  maxRetries: string;
  retryInterval: string;
}

/** Options every tenant command shares; each has a KEYLIME_TS_* environment twin. */
export function tenantGlobalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--registrar <host:port>', "registrar's mTLS address").env('KEYLIME_TS_REGISTRAR').default(`127.0.0.1:${DEFAULT_PORTS.registrarTls}`))
    .addOption(new Option('--verifier <host:port>', "verifier's address").env('KEYLIME_TS_VERIFIER').default(`127.0.0.1:${DEFAULT_PORTS.verifier}`))
    .addOption(new Option('--cert-dir <dir>', 'CA directory with client-cert.crt, client-private.pem and cacert.crt (default <data-dir>/cv_ca)').env('KEYLIME_TS_CERT_DIR'))
    .addOption(new Option('--data-dir <dir>', 'data directory').env('KEYLIME_TS_DATA_DIR'))
    .addOption(new Option('--request-timeout <s>', 'seconds per request').env('KEYLIME_TS_REQUEST_TIMEOUT').default('60'))
    .addOption(new Option('--max-retries <n>', 'retries when a server cannot be reached').env('KEYLIME_TS_MAX_RETRIES').default('5'))
    .addOption(new Option('--retry-interval <s>', 'backoff base in seconds (waits base^n)').env('KEYLIME_TS_RETRY_INTERVAL').default('2'))
    .option('--json', 'print one JSON document on stdout');
}

export function tenantContext(flags: TenantGlobalFlags): TenantContext {
  const dir = flags.certDir ?? caDir(resolveDataDir(flags.dataDir));
  const retryInterval = Number(flags.retryInterval);
  return new TenantContext({
    registrar: parseHostPort(flags.registrar, DEFAULT_PORTS.registrarTls),
    verifier: parseHostPort(flags.verifier, DEFAULT_PORTS.verifier),
    tls: readTlsMaterial(dir, 'client'),
    timeoutMs: Number(flags.requestTimeout) * 1000,
    retry: { retryInterval, maxRetries: Number(flags.maxRetries), exponentialBackoff: retryInterval > 1 },
    log: createLogger({ write: (line) => process.stderr.write(line + '\n'), level: 'warn' }),
    onRetry: ({ attempt, maxRetries, delaySeconds, reason }) =>
      process.stderr.write(`keylime-ts: ${reason}; retrying in ${delaySeconds} s (${attempt}/${maxRetries})\n`),
  });
}

/** An ora spinner on a TTY without --json; otherwise nothing. */
export function spinner(json: boolean | undefined): { step(text: string): void; succeed(text: string): void; fail(): void } {
  const active: Ora | undefined = !json && process.stderr.isTTY ? ora({ stream: process.stderr }).start() : undefined;
  return {
    step: (text) => {
      if (active) active.text = text;
    },
    succeed: (text) => active?.succeed(text),
    fail: () => active?.stop(),
  };
}

export async function withTenant<T>(flags: TenantGlobalFlags, fn: (ctx: TenantContext) => Promise<T>): Promise<T> {
  const ctx = tenantContext(flags);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
