import { Option, type Command } from 'commander';
import { createLogger, type Logger } from '../log.js';

/** Options every server command shares, each with its KEYLIME_TS_* environment twin. */
export function serverOptions(cmd: Command, defaults: { port: number }): Command {
  return cmd
    .addOption(new Option('--host <ip>', 'address to listen on').env('KEYLIME_TS_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on').env('KEYLIME_TS_PORT').default(String(defaults.port)).argParser(parsePort))
    .addOption(new Option('--data-dir <dir>', 'data directory (default: $KEYLIME_TS_HOME, /var/lib/keylime-ts as root, else ~/.local/share/keylime-ts)').env('KEYLIME_TS_DATA_DIR'))
    .addOption(new Option('--log-json', 'log one JSON object per line').env('KEYLIME_TS_LOG_JSON'));
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`not a port number: ${value}`);
  return n;
}

export function serverLogger(name: string, json?: boolean): Logger {
  return createLogger({ json: Boolean(json), bindings: { component: name } });
}

/** Keeps a server in the foreground until SIGTERM/SIGINT, then closes it cleanly. */
export function runUntilSignal(log: Logger, close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal });
      close().then(
        () => resolve(0),
        (e: unknown) => {
          log.error('error while stopping', { error: (e as Error).message });
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
