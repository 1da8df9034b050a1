import { Low, type Adapter } from 'lowdb';
import { mkdir, open, readFile, rename, chmod } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { KeylimeError } from '../errors.js';

/**
 * lowdb adapter that never leaves a half-written file: write a 0600 temp file, fsync,
 * rename over the old one, fsync the directory. A crash mid-write keeps the previous file.
 */
export class AtomicJsonFile<T> implements Adapter<T> {
  constructor(private readonly path: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KeylimeError('internal', `the store file ${this.path} is not valid JSON; restore it from a backup or move it away`);
    }
  }

  async write(data: T): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(data));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}

/**
 * A JSON document on disk with serialised updates: `update` applies a change in memory and
 * resolves once it is on disk, so a server can answer only after its change is durable.
 */
export class JsonStore<T> {
  private readonly db: Low<T>;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private dirty = false;

  private constructor(db: Low<T>) {
    this.db = db;
  }

  static async open<T>(path: string, defaults: T): Promise<JsonStore<T>> {
    const db = new Low<T>(new AtomicJsonFile<T>(path), defaults);
    await db.read();
    if (db.data === null || db.data === undefined) db.data = defaults;
    return new JsonStore(db);
  }

  get data(): T {
    return this.db.data;
  }

  /** Apply `fn` and persist; resolves after the write reached the disk. */
  async update<R>(fn: (data: T) => R): Promise<R> {
    const result = fn(this.db.data);
    this.dirty = false;
    await this.persist();
    return result;
  }

  /** Change in memory only (hot counters); a later update() or flush() writes it. */
  touch(fn: (data: T) => void): void {
    fn(this.db.data);
    this.dirty = true;
  }

  /** Writes pending in-memory changes, if any. */
  async flush(): Promise<void> {
    if (!this.dirty) return this.chain;
    this.dirty = false;
    await this.persist();
  }

  private persist(): Promise<void> {
    // Each write serialises the current state; writes are chained so they never overlap.
    // A write queued but not started yet will carry this change too: share it instead of
    // queueing another full-file write (many lifecycle changes at once stay cheap).
    if (this.queued) return this.queued;
    const next = this.chain.then(() => {
      this.queued = undefined;
      return this.db.write();
    });
    this.queued = next;
    this.chain = next.catch(() => undefined);
    return next;
  }
}
