import chalk from 'chalk';
import { KeylimeError, isKeylimeError } from '../errors.js';

/** Colour only on a TTY and when NO_COLOR is not set. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

export const paint = {
  ok: (s: string) => (useColor() ? chalk.green(s) : s),
  bad: (s: string) => (useColor() ? chalk.red(s) : s),
  warn: (s: string) => (useColor() ? chalk.yellow(s) : s),
  dim: (s: string) => (useColor() ? chalk.dim(s) : s),
  bold: (s: string) => (useColor() ? chalk.bold(s) : s),
};

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printLine(text = ''): void {
  process.stdout.write(text + '\n');
}

/**
 * Wrap a command action: a KeylimeError becomes one plain sentence on stderr and its
 * exit code (DESIGN: 1 false, 2 input, 3 unreachable, 4 not found); anything else is
 * a bug and prints its stack.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (e) {
      process.exitCode = reportError(e);
    }
  };
}

export function reportError(e: unknown): number {
  if (isKeylimeError(e)) {
    process.stderr.write(`keylime-ts: ${e.message}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`keylime-ts: internal error: ${err?.stack ?? String(e)}\n`);
  return 2;
}

export function usageError(message: string): KeylimeError {
  return new KeylimeError('usage', message);
}
