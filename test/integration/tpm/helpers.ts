/** Independent checks of what the Tpm class produced, done with tpm2-tools and node:crypto. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import type { TpmQuote } from '../../../src/tpm/index.js';

export function scratchDir(prefix = 'kts-tpm-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A fresh swtpm (no EK certificate) and a scratch directory for one describe block, removed after it. */
export function swtpmForSuite(): { swtpm(): Swtpm; dir(): string } {
  let swtpm: Swtpm | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    swtpm = await startSwtpm({ ekCert: false });
    dir = scratchDir();
  });
  afterAll(async () => {
    await swtpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return { swtpm: () => swtpm!, dir: () => dir! };
}

/** Runs tpm2_checkquote on a quote; returns its exit status and output. */
export function checkQuote(akPublic: Buffer, quote: TpmQuote, nonce: string): { status: number; output: string } {
  const dir = scratchDir('kts-checkquote-');
  try {
    const files = { ak: join(dir, 'ak.pub'), msg: join(dir, 'q.msg'), sig: join(dir, 'q.sig'), pcrs: join(dir, 'q.pcrs') };
    writeFileSync(files.ak, akPublic);
    writeFileSync(files.msg, quote.attest);
    writeFileSync(files.sig, quote.signature);
    writeFileSync(files.pcrs, quote.pcrsBlob);
    const r = spawnSync('tpm2_checkquote', [
      '-u', files.ak, '-m', files.msg, '-s', files.sig, '-f', files.pcrs, '-g', quote.hashAlg,
      '-q', Buffer.from(nonce, 'utf8').toString('hex'),
    ], { encoding: 'utf8' });
    return { status: r.status ?? -1, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The registrar's side of activation, done by tpm2_makecredential without a TPM. */
export function makeCredential(ekPublic: Buffer, akName: Buffer, secret: Buffer): Buffer {
  const dir = scratchDir('kts-makecred-');
  try {
    writeFileSync(join(dir, 'ek.pub'), ekPublic);
    writeFileSync(join(dir, 'secret'), secret);
    execFileSync('tpm2_makecredential', [
      '-T', 'none', '-u', join(dir, 'ek.pub'), '-s', join(dir, 'secret'), '-n', akName.toString('hex'), '-o', join(dir, 'cred'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(join(dir, 'cred'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Handles of objects left loaded in the TPM (must be none between operations). */
export function transientHandles(tpm: Swtpm): string[] {
  return execFileSync('tpm2_getcap', ['handles-transient'], { env: tpm.env, encoding: 'utf8' })
    .split('\n').map((l) => l.replace(/^-\s*/, '').trim()).filter(Boolean);
}

export function persistentHandles(tpm: Swtpm): number[] {
  return execFileSync('tpm2_getcap', ['handles-persistent'], { env: tpm.env, encoding: 'utf8' })
    .split('\n').map((l) => l.replace(/^-\s*/, '').trim()).filter(Boolean).map((h) => parseInt(h, 16));
}

/** tpm2-tools directly against the swtpm, as another program on the machine would. */
export function tpm2(tpm: Swtpm, tool: string, args: string[], cwd?: string): string {
  return execFileSync(tool, args, { env: tpm.env, encoding: 'utf8', cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** TPM Reset without moving ports: re-init the TPM through swtpm's control channel, then Startup(CLEAR). */
export function resetInPlace(tpm: Swtpm): void {
  execFileSync('swtpm_ioctl', ['--tcp', `127.0.0.1:${tpm.ctrlPort}`, '-i'], { stdio: 'ignore' });
  execFileSync('tpm2_startup', ['-c'], { env: tpm.env, stdio: 'ignore' });
}
