import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractZip, unsafeEntryName } from '../../../src/servers/agent/extract.js';
import { ZipError } from '../../../src/servers/agent/zip.js';
import { buildZip, type ZipSpec } from './zip-builder.js';

describe('payload zip extraction', () => {
  let root: string;
  let target: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'kts-extract-'));
    target = join(root, 'secure', 'unzipped');
    mkdirSync(target, { recursive: true, mode: 0o700 });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const everything = () => readdirSync(root, { recursive: true }).map(String).sort();

  it('extracts files and directories, files 0600 and directories 0700', async () => {
    const written = await extractZip(
      buildZip([
        { name: 'a.txt', data: Buffer.from('A') },
        { name: 'd/', data: Buffer.alloc(0) },
        { name: 'd/e/f.txt', data: Buffer.from('F'.repeat(3000)), deflate: true },
      ]),
      target,
    );
    expect(written).toEqual(['a.txt', 'd/e/f.txt']);
    expect(readFileSync(join(target, 'd/e/f.txt'), 'utf8')).toBe('F'.repeat(3000));
    expect(statSync(join(target, 'a.txt')).mode & 0o777).toBe(0o600);
    expect(statSync(join(target, 'd/e')).mode & 0o777).toBe(0o700);
  });

  const refused: Array<[string, ZipSpec[], RegExp]> = [
    ['../ entry', [{ name: 'ok', data: Buffer.from('1') }, { name: '../evil', data: Buffer.from('x') }], /climbs out/],
    ['deep ../', [{ name: 'a/b/../../../evil', data: Buffer.from('x') }], /climbs out/],
    ['absolute path', [{ name: '/tmp/evil', data: Buffer.from('x') }], /absolute/],
    ['backslash', [{ name: '..\\evil', data: Buffer.from('x') }], /backslash/],
    ['drive letter', [{ name: 'C:evil', data: Buffer.from('x') }], /drive/],
    ['symlink', [{ name: 'link', data: Buffer.from('/etc'), unixMode: 0o120777 }, { name: 'link/passwd', data: Buffer.from('x') }], /symbolic link/],
    ['fifo', [{ name: 'pipe', data: Buffer.alloc(0), unixMode: 0o010644 }], /not a regular file/],
    ['duplicate', [{ name: 'a', data: Buffer.from('1') }, { name: 'a', data: Buffer.from('2') }], /twice/],
    ['file then dir', [{ name: 'a', data: Buffer.from('1') }, { name: 'a/b', data: Buffer.from('2') }], /inside file/],
    ['bad CRC late', [{ name: 'first', data: Buffer.from('1') }, { name: 'second', data: Buffer.from('2'), crc: 7 }], /CRC/],
  ];
  for (const [what, entries, message] of refused) {
    it(`refuses a zip with a ${what} and writes nothing at all`, async () => {
      const before = everything();
      await expect(extractZip(buildZip(entries), target)).rejects.toThrow(message);
      await expect(extractZip(buildZip(entries), target)).rejects.toBeInstanceOf(ZipError);
      expect(everything()).toEqual(before);
    });
  }

  it('refuses a real symlink zip made by Info-ZIP-style tools (Python zipfile with a link mode)', async () => {
    const zip = execFileSync('python3', [
      '-c',
      "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w')\ni=zipfile.ZipInfo('etc')\ni.create_system=3\ni.external_attr=0o120777<<16\nz.writestr(i,'/etc')\nz.writestr('etc/shadow','x')\nz.close()\nsys.stdout.buffer.write(b.getvalue())",
    ]);
    await expect(extractZip(zip, target)).rejects.toThrow(/symbolic link/);
    expect(readdirSync(target)).toEqual([]);
  });

  it('never follows a link planted in the target directory', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(target, 'planted'));
    await expect(extractZip(buildZip([{ name: 'planted/x', data: Buffer.from('x') }]), target)).rejects.toThrow();
    symlinkSync(join(outside, 'file'), join(target, 'leaf'));
    await expect(extractZip(buildZip([{ name: 'leaf', data: Buffer.from('x') }]), target)).rejects.toThrow();
    expect(readdirSync(outside)).toEqual([]);
  });

  it('caps the total unpacked size', async () => {
    const zip = buildZip([
      { name: 'a', data: Buffer.alloc(600, 1), deflate: true },
      { name: 'b', data: Buffer.alloc(600, 2), deflate: true },
    ]);
    await expect(extractZip(zip, target, { maxTotalBytes: 1000 })).rejects.toThrow(/more than 1000 bytes/);
    expect(readdirSync(target)).toEqual([]);
  });

  it('names: plain relative paths pass, anything that could leave the directory does not', () => {
    for (const ok of ['a', 'a/b.txt', 'dir/', '..a', 'a..b/c', 'x/.hidden']) expect(unsafeEntryName(ok), ok).toBeUndefined();
    for (const bad of ['', '/', '..', '../', 'a/..', './a', 'a//b', 'a\0b', 'c:/x']) expect(unsafeEntryName(bad), bad).toBeDefined();
  });
});
