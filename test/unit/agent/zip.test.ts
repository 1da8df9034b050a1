import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/errors.js';
import { looksLikeZip, readZipEntries, readZipEntryData, ZipError } from '../../../src/servers/agent/zip.js';
import { buildZip } from './zip-builder.js';

/** Zips written by Python's zipfile: what Keylime's tenant uses for payloads. */
function pythonZip(script: string): Buffer {
  const code = `import io, sys, zipfile\nb = io.BytesIO()\nz = zipfile.ZipFile(b, 'w')\n${script}\nz.close()\nsys.stdout.buffer.write(b.getvalue())\n`;
  return execFileSync('python3', ['-c', code]);
}

function readAll(zip: Buffer): Map<string, Buffer> {
  return new Map(readZipEntries(zip).filter((e) => e.kind === 'file').map((e) => [e.name, readZipEntryData(zip, e)]));
}

function onlyParseErrors(zip: Buffer): void {
  try {
    readAll(zip);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
  }
}

describe('zip reader', () => {
  it('reads STORED and DEFLATE archives from Python zipfile, directories and Unix modes included', () => {
    const zip = pythonZip(
      [
        "z.writestr('cacert.crt', b'-----BEGIN CERTIFICATE-----\\n')",
        "z.writestr(zipfile.ZipInfo('keys/'), b'')",
        "z.writestr('keys/agent-private.pem', b'k' * 5000, compress_type=zipfile.ZIP_DEFLATED)",
        "z.writestr('autorun.sh', b'#!/bin/sh\\necho hi\\n')",
        "z.writestr('empty', b'')",
      ].join('\n'),
    );
    expect(looksLikeZip(zip)).toBe(true);
    const entries = readZipEntries(zip);
    expect(entries.map((e) => [e.name, e.kind, e.method])).toEqual([
      ['cacert.crt', 'file', 0],
      ['keys/', 'directory', 0],
      ['keys/agent-private.pem', 'file', 8],
      ['autorun.sh', 'file', 0],
      ['empty', 'file', 0],
    ]);
    const files = readAll(zip);
    expect(files.get('keys/agent-private.pem')!.toString()).toBe('k'.repeat(5000));
    expect(files.get('autorun.sh')!.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(files.get('empty')!.length).toBe(0);
  });

  it('recognises symlink entries, whatever the name says', () => {
    const zip = pythonZip(
      "i = zipfile.ZipInfo('link')\ni.create_system = 3\ni.external_attr = 0o120777 << 16\nz.writestr(i, '/etc/passwd')",
    );
    expect(readZipEntries(zip)[0]).toMatchObject({ name: 'link', kind: 'symlink', unixMode: 0o120777 });
    expect(readZipEntries(buildZip([{ name: 'dev', data: Buffer.alloc(0), unixMode: 0o020644 }]))[0]!.kind).toBe('other');
    expect(readZipEntries(buildZip([{ name: 'a.txt', data: Buffer.from('x'), unixMode: 0o100755 }]))[0]!.kind).toBe('file');
  });

  it('reads an empty archive and one with a comment', () => {
    expect(readZipEntries(pythonZip(''))).toEqual([]);
    const zip = buildZip([{ name: 'a', data: Buffer.from('1') }], 'a comment with PK\x05\x06 inside' + '.'.repeat(40));
    expect(readAll(zip).get('a')!.toString()).toBe('1');
  });

  it('refuses a CRC mismatch, a size lie and a DEFLATE bomb beyond its declared size', () => {
    const crc = buildZip([{ name: 'a', data: Buffer.from('hello'), crc: 1234 }]);
    expect(() => readAll(crc)).toThrow(expect.objectContaining({ reason: 'checksum' }));
    const bomb = buildZip([{ name: 'bomb', data: Buffer.alloc(10_000_000), deflate: true, declaredSize: 1000 }]);
    expect(() => readAll(bomb)).toThrow(expect.objectContaining({ reason: 'too_large', message: expect.stringContaining('inflates beyond') }));
    const short = buildZip([{ name: 'short', data: Buffer.alloc(100, 1), deflate: true, declaredSize: 200 }]);
    expect(() => readAll(short)).toThrow(ZipError);
    expect(() => readZipEntries(buildZip([{ name: 'big', data: Buffer.alloc(10) }]), { maxEntryBytes: 5 })).toThrow(/at most 5/);
    const many = buildZip(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(0) })));
    expect(() => readZipEntries(many, { maxEntries: 10 })).toThrow(/20 entries/);
  });

  it('refuses encryption, unknown methods, ZIP64 markers and multi-disk archives', () => {
    const zip = buildZip([{ name: 'a', data: Buffer.from('abc') }]);
    const cd = zip.readUInt32LE(zip.length - 22 + 16);
    const encrypted = Buffer.from(zip);
    encrypted.writeUInt16LE(0x0801, cd + 8);
    expect(() => readZipEntries(encrypted)).toThrow(/encrypted/);
    const bzip = Buffer.from(zip);
    bzip.writeUInt16LE(12, cd + 10);
    expect(() => readZipEntries(bzip)).toThrow(/method 12/);
    const zip64 = Buffer.from(zip);
    zip64.writeUInt32LE(0xffffffff, zip.length - 22 + 16);
    expect(() => readZipEntries(zip64)).toThrow(/ZIP64/);
    const disks = Buffer.from(zip);
    disks.writeUInt16LE(1, zip.length - 22 + 4);
    expect(() => readZipEntries(disks)).toThrow(/multi-disk/);
  });

  it('throws only ParseError on random bytes, every truncation and bit flips (no hangs)', () => {
    const zip = buildZip([
      { name: 'a.txt', data: Buffer.from('alpha'.repeat(40)), deflate: true },
      { name: 'dir/b.bin', data: randomBytes(64) },
      { name: 'c', data: Buffer.from('gamma') },
    ]);
    for (let n = 0; n < zip.length; n++) onlyParseErrors(zip.subarray(0, n));
    for (let i = 0; i < 3000; i++) {
      const m = Buffer.from(zip);
      const at = Math.floor(Math.random() * m.length);
      m[at] = m[at]! ^ (1 << Math.floor(Math.random() * 8));
      onlyParseErrors(m);
    }
    for (let i = 0; i < 500; i++) onlyParseErrors(randomBytes(Math.floor(Math.random() * 300)));
    // Random bytes after a valid end record signature.
    for (let i = 0; i < 500; i++) {
      const b = randomBytes(40);
      b.writeUInt32LE(0x06054b50, 10);
      onlyParseErrors(b);
    }
  });
});
