import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImaLog } from '../../../src/servers/agent/ima-log.js';

const line = (i: number) => `10 ${String(i).padStart(40, '0')} ima-ng sha256:${'ab'.repeat(32)} /file/${i}\n`;

describe('IMA log slices', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kts-ima-'));
    path = join(dir, 'ascii_runtime_measurements');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('serves from the requested line, "" at the end, the whole log (entry 0) beyond it', async () => {
    writeFileSync(path, [0, 1, 2].map(line).join(''));
    const log = new ImaLog(path);
    expect(await log.slice(0)).toEqual({ list: line(0) + line(1) + line(2), entry: 0 });
    expect(await log.slice(1)).toEqual({ list: line(1) + line(2), entry: 1 });
    expect(await log.slice(3)).toEqual({ list: '', entry: 3 });
    expect(await log.slice(4)).toEqual({ list: line(0) + line(1) + line(2), entry: 0 });
    appendFileSync(path, line(3) + line(4));
    expect(await log.slice(4)).toEqual({ list: line(4), entry: 4 });
    expect(log.knownLines).toBe(5);
  });

  it('leaves out an incomplete last line until it is complete', async () => {
    writeFileSync(path, line(0) + '10 partial');
    const log = new ImaLog(path);
    expect(await log.slice(0)).toEqual({ list: line(0), entry: 0 });
    appendFileSync(path, ' rest\n');
    expect(await log.slice(1)).toEqual({ list: '10 partial rest\n', entry: 1 });
  });

  it('starts over when the file is replaced, and reports a missing log as undefined', async () => {
    writeFileSync(path, [0, 1, 2, 3].map(line).join(''));
    const log = new ImaLog(path);
    await log.slice(0);
    rmSync(path);
    expect(await log.slice(0)).toBeUndefined();
    writeFileSync(path, line(9));
    expect(await log.slice(0)).toEqual({ list: line(9), entry: 0 });
    expect(await log.slice(3)).toEqual({ list: line(9), entry: 0 });
  });

  it('handles a large log across read chunks', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => line(i));
    writeFileSync(path, lines.join(''));
    const log = new ImaLog(path);
    expect((await log.slice(0))!.list.length).toBe(lines.join('').length);
    expect(await log.slice(4998)).toEqual({ list: lines[4998]! + lines[4999]!, entry: 4998 });
  });
});
