/**
 * Slices of the IMA ASCII log for integrity quotes (protocol spec §3.4). The log only
 * grows, so the byte offset of every line seen so far is kept: a request for entry n reads
 * from that line to the end and no more, and learns the offsets of new lines on the way.
 * Entry n beyond the end of the log gets the whole log back with entry 0 (the verifier
 * then replays from the start); n equal to the line count gets "".
 */
import { open, type FileHandle } from 'node:fs/promises';
import { SerialQueue } from '../../tpm/serial-queue.js';

export interface ImaSlice {
  /** Complete lines from `entry` to the end of the log. */
  list: string;
  entry: number;
}

const CHUNK = 256 * 1024;
const NEWLINE = 0x0a;

async function readFrom(handle: FileHandle, position: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // securityfs files report size 0: read until EOF rather than trusting stat.
  for (let at = position; ; ) {
    const buf = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await handle.read(buf, 0, CHUNK, at);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
  return Buffer.concat(chunks);
}

export class ImaLog {
  /** lineStarts[i] = byte offset of line i; the last element is the end of the last complete line. */
  private lineStarts: number[] = [0];
  private identity: string | undefined;
  private readonly queue = new SerialQueue();

  constructor(readonly path: string) {}

  /** Complete lines known so far. */
  get knownLines(): number {
    return this.lineStarts.length - 1;
  }

  /** The slice for `entry`, or undefined when the log cannot be read (no IMA on this machine). */
  slice(entry: number): Promise<ImaSlice | undefined> {
    return this.queue.run(() => this.read(entry));
  }

  private async read(entry: number): Promise<ImaSlice | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch {
      return undefined;
    }
    try {
      const stat = await handle.stat();
      const identity = `${stat.dev}:${stat.ino}`;
      const known = this.knownLines;
      // A different file, or a regular file that shrank, is a new log: forget the offsets.
      if (identity !== this.identity || (stat.size > 0 && stat.size < this.lineStarts[known]!)) {
        this.lineStarts = [0];
        this.identity = identity;
      }
      const from = Math.min(Math.max(0, entry), this.knownLines);
      const start = this.lineStarts[from]!;
      const data = await readFrom(handle, start);
      this.index(data, start);
      const end = this.lineStarts[this.knownLines]!;
      if (entry <= this.knownLines) {
        return { list: data.subarray(this.lineStarts[entry]! - start, end - start).toString('utf8'), entry };
      }
      const whole = start === 0 ? data : await readFrom(handle, 0);
      return { list: whole.subarray(0, end).toString('utf8'), entry: 0 };
    } finally {
      await handle.close();
    }
  }

  /** Records the starts of lines completed in `data` (which begins at byte `start`). */
  private index(data: Buffer, start: number): void {
    const last = this.lineStarts[this.knownLines]!;
    let at = last - start;
    for (;;) {
      const nl = data.indexOf(NEWLINE, at);
      if (nl < 0) break;
      this.lineStarts.push(start + nl + 1);
      at = nl + 1;
    }
  }
}
