/**
 * Runs one tpm2-tools binary against one TPM (TCTI) and turns every failure into a typed
 * error: TpmError (tool, exit status, stderr) when the tool ran and failed, KeylimeError
 * 'unreachable' when the binary is missing.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { KeylimeError, TpmError } from '../errors.js';
import type { Logger } from '../log.js';

export interface ToolRunnerOptions {
  tcti: string;
  cwd: string;
  /** Directory holding the tpm2_* binaries; default: found on PATH. */
  binDir?: string;
  timeoutMs: number;
  logger: Logger;
}

export interface ToolResult {
  stdout: string;
  stderr: string;
}

export class ToolRunner {
  /** tpm2-tools processes started so far; lets callers measure what an operation costs. */
  processCount = 0;

  constructor(private readonly options: ToolRunnerOptions) {}

  async run(tool: string, args: string[]): Promise<ToolResult> {
    const { tcti, cwd, binDir, timeoutMs, logger } = this.options;
    this.processCount++;
    const started = performance.now();
    const result = await execa(binDir ? join(binDir, tool) : tool, args, {
      cwd,
      env: { TPM2TOOLS_TCTI: tcti },
      stdin: 'ignore',
      reject: false,
      timeout: timeoutMs,
      stripFinalNewline: false,
    });
    logger.debug('tpm2-tools', { tool, args: args.join(' '), ms: Math.round(performance.now() - started), exitCode: result.exitCode });
    if (result.code === 'ENOENT') {
      throw new KeylimeError(
        'unreachable',
        `${tool} was not found${binDir ? ` in ${binDir}` : ' on PATH'}: install tpm2-tools (Debian: apt-get install tpm2-tools)`,
        { details: { tool }, cause: result.cause },
      );
    }
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    if (result.timedOut) {
      throw new TpmError(tool, undefined, stderr, `${tool} did not finish within ${timeoutMs} ms (TPM at ${tcti} not answering?)`);
    }
    if (result.failed) {
      if (result.signal) {
        throw new TpmError(tool, undefined, stderr, `${tool} crashed (${result.signal}): ${lastError(stderr)}`);
      }
      if (result.exitCode === undefined) {
        throw new TpmError(tool, undefined, stderr, `${tool} could not be run: ${result.shortMessage}`);
      }
      throw new TpmError(tool, result.exitCode, stderr, `${tool} failed (exit ${result.exitCode}): ${lastError(stderr)}`);
    }
    return { stdout: typeof result.stdout === 'string' ? result.stdout : '', stderr };
  }
}

/** tpm2-tools prints the decoded TPM response code on its last "ERROR:" lines; the best one-line reason. */
function lastError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('ERROR: '));
  return lines[0]?.slice(7) ?? (stderr.trim().split('\n')[0] || 'no output');
}
