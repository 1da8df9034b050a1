/**
 * Extracts a payload zip into one directory and nowhere else. The whole archive is checked
 * first (names, entry types, sizes, every entry inflated and its CRC verified); a single
 * bad entry refuses the archive before anything is written. Then files are created with
 * O_EXCL|O_NOFOLLOW inside directories this code made itself, so neither a name nor a
 * planted link can lead a write outside.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { KeylimeError } from '../../errors.js';
import { readZipEntries, readZipEntryData, ZipError, type ZipEntry } from './zip.js';

export interface ExtractLimits {
  maxEntries?: number;
  /** Sum of all uncompressed entry sizes. */
  maxTotalBytes?: number;
}

const DEFAULT_MAX_TOTAL = 64 * 1024 * 1024;

/** Why an entry name cannot be extracted safely, or undefined when it can. */
export function unsafeEntryName(name: string): string | undefined {
  if (name.length === 0) return 'it has an empty name';
  if (name.includes('\0')) return 'its name contains a NUL byte';
  if (name.includes('\\')) return 'its name contains a backslash';
  if (name.startsWith('/')) return 'it is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'it names a drive';
  const parts = name.endsWith('/') ? name.slice(0, -1).split('/') : name.split('/');
  for (const part of parts) {
    if (part === '..') return 'it climbs out of the directory (..)';
    if (part === '.' || part === '') return 'its path has an empty or "." component';
  }
  return undefined;
}

interface Planned {
  entry: ZipEntry;
  parts: string[];
  data: Buffer | undefined;
}

/** Checks everything and inflates every file; throws ZipError on the first problem. */
function plan(zip: Buffer, limits: ExtractLimits): Planned[] {
  const maxTotal = limits.maxTotalBytes ?? DEFAULT_MAX_TOTAL;
  const entries = readZipEntries(zip, { maxEntries: limits.maxEntries, maxEntryBytes: maxTotal });
  const seen = new Set<string>();
  let total = 0;
  const out: Planned[] = [];
  for (const entry of entries) {
    if (entry.kind === 'symlink') throw new ZipError('unsupported', `entry "${entry.name}" is a symbolic link; links are refused`);
    if (entry.kind === 'other') throw new ZipError('unsupported', `entry "${entry.name}" is not a regular file or directory`);
    const why = unsafeEntryName(entry.name);
    if (why) throw new ZipError('unsupported', `entry "${entry.name}" is refused: ${why}`);
    const parts = entry.name.split('/').filter((p) => p !== '');
    const key = parts.join('/');
    if (seen.has(key)) throw new ZipError('malformed', `entry "${entry.name}" appears twice`);
    seen.add(key);
    total += entry.uncompressedSize;
    if (total > maxTotal) throw new ZipError('too_large', `the archive unpacks to more than ${maxTotal} bytes`);
    out.push({ entry, parts, data: entry.kind === 'file' ? readZipEntryData(zip, entry) : undefined });
  }
  // A file and a directory may not share a path ("a" and "a/b").
  const files = new Set(out.filter((p) => p.entry.kind === 'file').map((p) => p.parts.join('/')));
  for (const { parts, entry } of out) {
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (files.has(prefix)) throw new ZipError('malformed', `entry "${entry.name}" lies inside file "${prefix}"`);
    }
  }
  return out;
}

async function makeDirs(root: string, parts: string[], made: Set<string>): Promise<void> {
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    if (made.has(path)) continue;
    try {
      await mkdir(path, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // Something already there must be a real directory: a link would lead writes outside.
      if (!(await lstat(path)).isDirectory()) {
        throw new KeylimeError('conflict', `${path} exists and is not a directory; refusing to extract through it`);
      }
    }
    made.add(path);
  }
}

/**
 * Extracts `zip` into `dir` (which must exist and be private). Files are written 0600,
 * directories 0700. Returns the relative names of the files written.
 */
export async function extractZip(zip: Buffer, dir: string, limits: ExtractLimits = {}): Promise<string[]> {
  const planned = plan(zip, limits);
  const made = new Set<string>();
  const written: string[] = [];
  for (const { entry, parts, data } of planned) {
    if (entry.kind === 'directory') {
      await makeDirs(dir, parts, made);
      continue;
    }
    await makeDirs(dir, parts.slice(0, -1), made);
    const path = join(dir, ...parts);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const handle = await open(path, flags, 0o600);
    try {
      await handle.writeFile(data!);
    } finally {
      await handle.close();
    }
    written.push(parts.join('/'));
  }
  return written;
}
