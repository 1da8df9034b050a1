/**
 * Revocation notifications (protocol spec §3.5, §9): the verifier signs `msg` with the
 * RevocationNotifier key (RSA-PSS, SHA-256, MGF1-SHA-256, maximal salt); the agent checks
 * it against RevocationNotifier-cert.crt that came in the payload, logs it and runs the
 * operator's action, if one is configured, with the path of a file holding the message.
 */
import { X509Certificate, constants, randomBytes, verify, type KeyObject } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidInput } from '../../errors.js';
import type { Logger } from '../../log.js';
import { decodeBase64Strict } from '../../quote/index.js';

export interface RevocationNotification {
  msg: string;
  signature: string;
}

export type RevocationOutcome =
  | { status: 'no-certificate' }
  | { status: 'bad-signature'; reason: string }
  | { status: 'bad-message'; reason: string }
  | { status: 'accepted'; message: Record<string, unknown>; actionExitCode?: number };

export interface RevocationOptions {
  /** RevocationNotifier-cert.crt (from the payload). */
  certPath: string;
  /** Executable run with one argument, the path of a file holding the message JSON. */
  action?: string;
  /** Working directory of the action and where its message file is written. */
  workDir: string;
  log: Logger;
}

const ACTION_TIMEOUT_MS = 60_000;

/** POST /notifications/revocation body: both fields are required strings. */
export function parseRevocation(body: unknown): RevocationNotification {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidInput('Request body must be a JSON object');
  const { msg, signature } = body as Record<string, unknown>;
  if (typeof msg !== 'string') throw invalidInput("Missing or non-string field 'msg' in request body");
  if (typeof signature !== 'string') throw invalidInput("Missing or non-string field 'signature' in request body");
  return { msg, signature };
}

/** Python's padding.PSS.MAX_LENGTH: emLen - hLen - 2, emLen = ceil((modBits - 1) / 8). */
function maxSaltLength(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return Math.ceil((bits - 1) / 8) - 32 - 2;
}

export function verifyRevocationSignature(cert: X509Certificate, notification: RevocationNotification): string | undefined {
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'rsa') return `the revocation certificate holds a ${key.asymmetricKeyType ?? 'unknown'} key, RSA is required`;
  if (notification.signature === '') return 'the notification is not signed';
  let signature: Buffer;
  try {
    signature = decodeBase64Strict(notification.signature, 'signature');
  } catch (e) {
    return (e as Error).message;
  }
  const ok = verify(
    'sha256',
    Buffer.from(notification.msg, 'utf8'),
    { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: maxSaltLength(key) },
    signature,
  );
  return ok ? undefined : 'the signature does not verify with the RevocationNotifier certificate';
}

export async function handleRevocation(notification: RevocationNotification, opts: RevocationOptions): Promise<RevocationOutcome> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(opts.certPath));
  } catch (e) {
    opts.log.warn('revocation notification ignored: no usable revocation certificate (has a payload delivered one?)', {
      cert: opts.certPath,
      error: (e as Error).message,
    });
    return { status: 'no-certificate' };
  }
  const bad = verifyRevocationSignature(cert, notification);
  if (bad) {
    opts.log.warn('revocation notification refused', { reason: bad });
    return { status: 'bad-signature', reason: bad };
  }
  let message: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(notification.msg);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    message = parsed as Record<string, unknown>;
  } catch (e) {
    opts.log.warn('revocation notification refused: msg is not a JSON object', { error: (e as Error).message });
    return { status: 'bad-message', reason: (e as Error).message };
  }
  opts.log.warn('revocation notification received', {
    type: message.type,
    agent_id: message.agent_id,
    ip: message.ip,
    event_id: message.event_id,
    severity: message.severity_label,
  });
  if (!opts.action) return { status: 'accepted', message };
  return { status: 'accepted', message, actionExitCode: await runAction(opts.action, notification.msg, opts) };
}

async function runAction(action: string, msg: string, opts: RevocationOptions): Promise<number> {
  const file = join(opts.workDir, `revocation-${Date.now()}-${randomBytes(4).toString('hex')}.json`);
  await writeFile(file, msg, { mode: 0o600, flag: 'wx' });
  try {
    return await new Promise<number>((resolve) => {
      execFile(action, [file], { cwd: opts.workDir, timeout: ACTION_TIMEOUT_MS }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const fields = { action, exit_code: code, stdout: String(stdout).slice(-2000), stderr: String(stderr).slice(-2000) };
        if (code === 0) opts.log.info('revocation action finished', fields);
        else opts.log.error('revocation action failed', fields);
        resolve(code);
      });
    });
  } finally {
    await rm(file, { force: true });
  }
}
