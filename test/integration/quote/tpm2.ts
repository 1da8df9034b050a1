import { spawnSync } from 'node:child_process';
import type { Swtpm } from '../../support/swtpm.js';

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs one tpm2-tools command against `tpm` in `cwd`; throws with its stderr when it fails. */
export function tpm2(tpm: Swtpm, cwd: string, tool: string, args: string[]): string {
  const r = tpm2Status(tpm, cwd, tool, args);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function tpm2Status(tpm: Swtpm, cwd: string, tool: string, args: string[]): ToolResult {
  const r = spawnSync(tool, args, { cwd, env: tpm.env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/** swtpm has three transient object slots and no resource manager: flush after every loading command. */
export function flush(tpm: Swtpm, cwd: string): void {
  tpm2(tpm, cwd, 'tpm2_flushcontext', ['-t']);
}

export function nonceHex(nonce: string): string {
  return Buffer.from(nonce, 'utf8').toString('hex');
}
