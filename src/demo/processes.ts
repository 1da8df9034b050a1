import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { waitUntilListening } from '../util/ports.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeylimeError } from '../errors.js';

/** bin/keylime-ts of this installation (dist/src/demo/ -> ../../../bin). */
export const keylimeBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'keylime-ts');

export interface ServerProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts `keylime-ts <args>` as a child process in its own process group, logging straight
 * to `logFile`, so it can outlive the demo (--keep) and Ctrl-C reaches only the demo, which
 * then stops it.
 */
export function startServer(name: string, args: string[], logFile: string): ServerProcess {
  const fd = openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [keylimeBin, ...args], { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, NO_COLOR: '1' } });
  closeSync(fd);
  return {
    name,
    child,
    logFile,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Resolves once something listens on 127.0.0.1:port; fails when the process exits or time runs out. */
export async function waitForPort(server: ServerProcess, port: number, timeoutMs = 20_000): Promise<void> {
  const problem = await waitUntilListening(server.child, port, timeoutMs, 50);
  if (problem) throw new KeylimeError('unreachable', `the ${server.name} ${problem}; see ${server.logFile}`);
}
