import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Data directory: --data-dir, else $KEYLIME_TS_HOME, else /var/lib/keylime-ts as root,
 * else ~/.local/share/keylime-ts.
 */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.KEYLIME_TS_HOME) return env.KEYLIME_TS_HOME;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/keylime-ts';
  return join(homedir(), '.local/share/keylime-ts');
}

/** The verifier-generated CA lives in <data-dir>/cv_ca, as Keylime's tls_dir=generate. */
export function caDir(dataDir: string): string {
  return join(dataDir, 'cv_ca');
}

export const DEFAULT_TCTI = 'device:/dev/tpmrm0';

export function resolveTcti(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.KEYLIME_TS_TCTI ?? env.TPM2TOOLS_TCTI ?? DEFAULT_TCTI;
}

/** Keylime's default ports. */
export const DEFAULT_PORTS = {
  verifier: 8881,
  registrar: 8890,
  registrarTls: 8891,
  agent: 9002,
} as const;

/** Parse "host:port" as given to --registrar / --verifier / --agent. IPv6 may be bracketed. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : defaultPort };
  const idx = text.lastIndexOf(':');
  if (idx > 0 && text.indexOf(':') === idx) {
    return { host: text.slice(0, idx), port: Number(text.slice(idx + 1)) };
  }
  return { host: text, port: defaultPort };
}
