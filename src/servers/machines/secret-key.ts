/**
 * The key that seals token secrets at rest: <data-dir>/machines.key, 64 hex characters,
 * mode 0600. Created once; two processes starting at the same moment agree on one key
 * because the file only ever appears whole, by a no-clobber link from a synced temp file.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { KeylimeError } from '../../errors.js';
import { formatSecretKeyFile, generateSecretKey, parseSecretKeyFile } from '../../machines/index.js';

export interface SecretKeyFile {
  key: Buffer;
  created: boolean;
  /** Set when the file is readable by group or others (it should be 0600). */
  looseMode?: number;
}

export async function readSecretKey(path: string): Promise<SecretKeyFile> {
  const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  let key: Buffer;
  try {
    key = parseSecretKeyFile(text);
  } catch (e) {
    throw new KeylimeError('internal', `${path}: ${(e as Error).message}; restore the key file from a backup (token secrets cannot be opened without it)`);
  }
  const mode = info.mode & 0o777;
  return (mode & 0o077) !== 0 ? { key, created: false, looseMode: mode } : { key, created: false };
}

export async function loadOrCreateSecretKey(
  path: string,
  randomBytes: (size: number) => Buffer = nodeRandomBytes,
): Promise<SecretKeyFile> {
  try {
    return await readSecretKey(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = generateSecretKey(randomBytes);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${nodeRandomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(formatSecretKeyFile(key));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readSecretKey(path);
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return { key, created: true };
}
