/**
 * The payload pipeline (protocol spec §3.3, Rust agent layout): decrypt with K, recreate
 * <secure>/unzipped (0700), write K to derived_tci_key and the plaintext to
 * decrypted_payload, extract it when it is a zip, and run autorun.sh only when the
 * operator enabled payload scripts.
 */
import { createDecipheriv } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeylimeError, invalidInput } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ensurePrivateDir, exists } from '../../crypto/files.js';
import { extractZip, type ExtractLimits } from './extract.js';
import { looksLikeZip } from './zip.js';

export const KEY_FILE = 'derived_tci_key';
export const PAYLOAD_FILE = 'decrypted_payload';
export const PAYLOAD_SCRIPT = 'autorun.sh';
export const REVOCATION_CERT_FILE = 'RevocationNotifier-cert.crt';

const IV_BYTES = 16;
const TAG_BYTES = 16;
const SCRIPT_TIMEOUT_MS = 5 * 60_000;

/** b64-decoded payload = IV(16) || AES-GCM ciphertext || tag(16); AES-256 for a 32-byte K, AES-128 for 16. */
export function decryptPayload(key: Buffer, blob: Buffer): Buffer {
  if (key.length !== 16 && key.length !== 32) throw invalidInput(`payload key is ${key.length} bytes, expected 16 or 32`);
  if (blob.length < IV_BYTES + TAG_BYTES) throw invalidInput(`encrypted payload is ${blob.length} bytes, at least ${IV_BYTES + TAG_BYTES} are needed`);
  const iv = blob.subarray(0, IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const decipher = createDecipheriv(key.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new KeylimeError('verification', 'payload does not decrypt with the bootstrap key (GCM tag mismatch)');
  }
}

export interface PayloadOptions {
  agentId: string;
  /** <data-dir>/secure; the payload goes to its `unzipped` subdirectory. */
  secureDir: string;
  enableScript: boolean;
  log: Logger;
  limits?: ExtractLimits;
}

export interface PayloadOutcome {
  dir: string;
  /** Files extracted from the zip (relative names); empty for a non-zip payload. */
  extracted: string[];
  /** autorun.sh exit code, when it ran. */
  scriptExitCode?: number;
}

export function payloadDir(secureDir: string): string {
  return join(secureDir, 'unzipped');
}

/** Runs the whole pipeline; throws a KeylimeError when the payload is refused. */
export async function deliverPayload(key: Buffer, encrypted: Buffer, opts: PayloadOptions): Promise<PayloadOutcome> {
  const plaintext = decryptPayload(key, encrypted);
  const dir = payloadDir(opts.secureDir);
  ensurePrivateDir(opts.secureDir);
  // rm does not follow links inside; the directory is rebuilt from nothing for each payload.
  await rm(dir, { recursive: true, force: true });
  ensurePrivateDir(dir);
  await writeFile(join(dir, KEY_FILE), key, { mode: 0o600, flag: 'wx' });
  await writeFile(join(dir, PAYLOAD_FILE), plaintext, { mode: 0o600, flag: 'wx' });
  let extracted: string[] = [];
  if (looksLikeZip(plaintext)) {
    extracted = await extractZip(plaintext, dir, opts.limits);
    opts.log.info('payload extracted', { dir, files: extracted.length });
  } else {
    opts.log.info('payload is not a zip; kept as decrypted_payload', { dir, bytes: plaintext.length });
  }
  const outcome: PayloadOutcome = { dir, extracted };
  const script = join(dir, PAYLOAD_SCRIPT);
  if (extracted.includes(PAYLOAD_SCRIPT) && exists(script)) {
    if (!opts.enableScript) {
      opts.log.warn('payload contains autorun.sh; not run (start the agent with --enable-payload-script to run it)');
    } else {
      await chmod(script, 0o700);
      outcome.scriptExitCode = await runScript(script, dir, opts);
    }
  }
  return outcome;
}

function runScript(script: string, cwd: string, opts: PayloadOptions): Promise<number> {
  opts.log.info('running payload script', { script });
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', script],
      { cwd, timeout: SCRIPT_TIMEOUT_MS, env: { ...process.env, AGENT_UUID: opts.agentId }, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const fields = { exit_code: code, stdout: String(stdout).slice(-2000), stderr: String(stderr).slice(-2000) };
        if (code === 0) opts.log.info('payload script finished', fields);
        else opts.log.error('payload script failed', fields);
        resolve(code);
      },
    );
  });
}
