import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, relative, sep } from 'node:path';
import { Worker } from 'node:worker_threads';
import { KeylimeError } from '../errors.js';

export interface RootfsDigestOptions {
  hashAlg?: string;
  /** Paths (as they would appear on the machine, e.g. "/proc") not to descend into. */
  skip?: (path: string) => boolean;
  /** Worker threads hashing files (default: the number of cores). */
  workers?: number;
}

export interface RootfsDigests {
  /** Machine path ("/usr/bin/bash") -> hex digest. */
  digests: Map<string, string>;
  /** Files that could not be read, with the reason. */
  unreadable: { path: string; reason: string }[];
}

/** Every regular file below `root`; symlinks are not followed (IMA measures the target under its own name). */
async function listFiles(root: string, skip: (p: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      if (skip(machinePath(root, full))) continue;
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(full);
    }
  };
  await walk(root);
  return out.sort();
}

function machinePath(root: string, full: string): string {
  return '/' + relative(root, full).split(sep).join('/');
}

// The worker receives file paths and answers digests, streaming each file through the
// hash so memory stays flat whatever the file size.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
parentPort.on('message', (path) => {
  const h = createHash(workerData.hashAlg);
  createReadStream(path)
    .on('data', (c) => h.update(c))
    .on('error', (e) => parentPort.postMessage({ path, error: e.message }))
    .on('end', () => parentPort.postMessage({ path, digest: h.digest('hex') }));
});
`;

/**
 * Digests of every regular file in a root filesystem image (for `policy runtime create
 * --rootfs`), hashed by a pool of worker threads so every core is busy.
 */
export async function rootfsDigests(root: string, options: RootfsDigestOptions = {}): Promise<RootfsDigests> {
  const hashAlg = options.hashAlg ?? 'sha256';
  try {
    createHash(hashAlg);
  } catch {
    throw new KeylimeError('invalid_input', `unknown hash algorithm ${hashAlg}`);
  }
  try {
    if (!(await lstat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new KeylimeError('not_found', `--rootfs ${root} is not a readable directory`);
  }
  const files = await listFiles(root, options.skip ?? (() => false));
  const digests = new Map<string, string>();
  const unreadable: { path: string; reason: string }[] = [];
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), files.length));
  let next = 0;
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { hashAlg } });
        const feed = () => {
          if (next >= files.length) {
            void worker.terminate().then(() => resolve());
            return;
          }
          worker.postMessage(files[next++]);
        };
        worker.on('message', (m: { path: string; digest?: string; error?: string }) => {
          if (m.digest) digests.set(machinePath(root, m.path), m.digest);
          else unreadable.push({ path: machinePath(root, m.path), reason: m.error ?? 'unreadable' });
          feed();
        });
        worker.on('error', reject);
        feed();
      }),
    ),
  );
  return { digests, unreadable };
}
