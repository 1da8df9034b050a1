import type { ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** A loopback port nothing listens on right now (it may be taken before you bind it: retry). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** True once something accepts connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Waits until `child` listens on `port`. Resolves undefined when it does; otherwise the
 * reason: the process exited (with its status) or the time ran out.
 */
export async function waitUntilListening(child: ChildProcess, port: number, timeoutMs: number, pollMs = 25): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return `exited with status ${child.exitCode}`;
    if (await canConnect(port)) return undefined;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return `did not listen on port ${port} within ${timeoutMs / 1000} s`;
}
