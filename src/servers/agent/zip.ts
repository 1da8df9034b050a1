/**
 * A small, strict zip reader for payloads (the tenant builds a STORED zip with Python's
 * zipfile; other tools DEFLATE). It trusts the central directory, checks every offset and
 * size against the buffer before touching it, inflates with an output cap so a zip bomb
 * cannot grow past the size it declares, and checks CRC-32. No I/O: bytes in, entries out.
 * ZIP64, multi-disk archives and encrypted entries are refused, not guessed at.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { ParseError } from '../../errors.js';

export type ZipErrorReason = 'malformed' | 'unsupported' | 'too_large' | 'checksum';

export class ZipError extends ParseError {
  readonly reason: ZipErrorReason;
  constructor(reason: ZipErrorReason, message: string, offset?: number) {
    super(message, offset, { reason });
    this.name = 'ZipError';
    this.reason = reason;
  }
}

export type ZipEntryKind = 'file' | 'directory' | 'symlink' | 'other';

export interface ZipEntry {
  /** The stored name (UTF-8 when general-purpose flag 11 is set, else read as Latin-1). */
  name: string;
  kind: ZipEntryKind;
  /** Unix st_mode from the external attributes, when the archive records one. */
  unixMode: number | undefined;
  /** 0 STORED, 8 DEFLATE. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** Where the entry's (compressed) data starts, after its local header. */
  dataOffset: number;
}

export interface ZipLimits {
  maxEntries?: number;
  /** Largest uncompressed size accepted for one entry. */
  maxEntryBytes?: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** "Version made by" hosts whose external attributes carry a Unix mode in the high 16 bits. */
const UNIX_HOSTS = new Set([3, 19]);
const MSDOS_DIRECTORY = 0x10;

const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/** Whether the bytes are worth reading as a zip (local header or empty-archive signature first). */
export function looksLikeZip(data: Buffer): boolean {
  if (data.length < 4) return false;
  const sig = data.readUInt32LE(0);
  return sig === LOCAL_SIGNATURE || sig === EOCD_SIGNATURE;
}

function findEndOfCentralDirectory(zip: Buffer): number {
  if (zip.length < EOCD_SIZE) throw new ZipError('malformed', `${zip.length} bytes are too few for a zip archive`);
  const lowest = Math.max(0, zip.length - EOCD_SIZE - MAX_COMMENT);
  for (let at = zip.length - EOCD_SIZE; at >= lowest; at--) {
    if (zip.readUInt32LE(at) !== EOCD_SIGNATURE) continue;
    // The comment must run exactly to the end: a signature inside a comment is not the record.
    if (at + EOCD_SIZE + zip.readUInt16LE(at + 20) === zip.length) return at;
  }
  throw new ZipError('malformed', 'no end-of-central-directory record: not a zip archive, or truncated');
}

function entryKind(name: string, versionMadeBy: number, external: number): { kind: ZipEntryKind; unixMode: number | undefined } {
  const high = external >>> 16;
  const unixMode = UNIX_HOSTS.has(versionMadeBy >>> 8) && high !== 0 ? high : undefined;
  // A symlink type in the high word is refused whatever host the archive claims.
  if ((high & S_IFMT) === S_IFLNK) return { kind: 'symlink', unixMode: high };
  const isDirName = name.endsWith('/');
  if (unixMode !== undefined) {
    const type = unixMode & S_IFMT;
    if (type === S_IFDIR) return { kind: 'directory', unixMode };
    if (type === S_IFREG) return { kind: isDirName ? 'other' : 'file', unixMode };
    if (type !== 0) return { kind: 'other', unixMode };
  }
  if (isDirName || (external & MSDOS_DIRECTORY) !== 0) return { kind: isDirName ? 'directory' : 'other', unixMode };
  return { kind: 'file', unixMode };
}

/** Reads the central directory: every entry, checked against the buffer and its local header. */
export function readZipEntries(zip: Buffer, limits: ZipLimits = {}): ZipEntry[] {
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxEntryBytes = limits.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
  const eocd = findEndOfCentralDirectory(zip);
  const disk = zip.readUInt16LE(eocd + 4);
  const cdDisk = zip.readUInt16LE(eocd + 6);
  const onDisk = zip.readUInt16LE(eocd + 8);
  const total = zip.readUInt16LE(eocd + 10);
  const cdSize = zip.readUInt32LE(eocd + 12);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new ZipError('unsupported', 'ZIP64 archives are not supported', eocd);
  }
  if (disk !== 0 || cdDisk !== 0 || onDisk !== total) throw new ZipError('unsupported', 'multi-disk zip archives are not supported', eocd);
  if (total > maxEntries) throw new ZipError('too_large', `the archive has ${total} entries, at most ${maxEntries} are accepted`, eocd);
  if (cdOffset + cdSize > eocd) throw new ZipError('malformed', 'the central directory overlaps the end record or lies outside the archive', eocd);

  const entries: ZipEntry[] = [];
  let at = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < total; i++) {
    if (at + CENTRAL_SIZE > cdEnd) throw new ZipError('malformed', `central directory entry ${i} is truncated`, at);
    if (zip.readUInt32LE(at) !== CENTRAL_SIGNATURE) throw new ZipError('malformed', `central directory entry ${i} has a bad signature`, at);
    const versionMadeBy = zip.readUInt16LE(at + 4);
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const uncompressedSize = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const external = zip.readUInt32LE(at + 38);
    const localHeaderOffset = zip.readUInt32LE(at + 42);
    const next = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (next > cdEnd) throw new ZipError('malformed', `central directory entry ${i} runs past the directory`, at);
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      throw new ZipError('unsupported', 'ZIP64 entries are not supported', at);
    }
    const rawName = zip.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength);
    const name = rawName.toString((flags & FLAG_UTF8) !== 0 ? 'utf8' : 'latin1');
    if ((flags & FLAG_ENCRYPTED) !== 0) throw new ZipError('unsupported', `entry "${name}" is encrypted`, at);
    if (method !== METHOD_STORED && method !== METHOD_DEFLATE) {
      throw new ZipError('unsupported', `entry "${name}" uses compression method ${method} (only STORED and DEFLATE are supported)`, at);
    }
    if (method === METHOD_STORED && compressedSize !== uncompressedSize) {
      throw new ZipError('malformed', `STORED entry "${name}" has different compressed and uncompressed sizes`, at);
    }
    if (uncompressedSize > maxEntryBytes) {
      throw new ZipError('too_large', `entry "${name}" is ${uncompressedSize} bytes, at most ${maxEntryBytes} are accepted`, at);
    }
    const dataOffset = checkLocalHeader(zip, localHeaderOffset, compressedSize, cdOffset, name);
    entries.push({
      name, ...entryKind(name, versionMadeBy, external), method, flags, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset, dataOffset,
    });
    at = next;
  }
  return entries;
}

/** Where an entry's data starts; the data must end before the central directory. */
function checkLocalHeader(zip: Buffer, offset: number, compressedSize: number, cdOffset: number, name: string): number {
  if (offset + LOCAL_SIZE > cdOffset) throw new ZipError('malformed', `local header of "${name}" lies outside the archive data`, offset);
  if (zip.readUInt32LE(offset) !== LOCAL_SIGNATURE) throw new ZipError('malformed', `local header of "${name}" has a bad signature`, offset);
  const dataStart = offset + LOCAL_SIZE + zip.readUInt16LE(offset + 26) + zip.readUInt16LE(offset + 28);
  if (dataStart + compressedSize > cdOffset) throw new ZipError('malformed', `data of "${name}" runs past the archive data`, offset);
  return dataStart;
}

/** The uncompressed bytes of one entry from readZipEntries, size and CRC-32 checked. */
export function readZipEntryData(zip: Buffer, entry: ZipEntry): Buffer {
  const start = entry.dataOffset;
  if (!Number.isInteger(start) || start < 0 || start + entry.compressedSize > zip.length) {
    throw new ZipError('malformed', `data of "${entry.name}" lies outside the archive`, start);
  }
  const raw = zip.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === METHOD_STORED) {
    data = Buffer.from(raw);
  } else {
    try {
      // The cap makes inflate stop at the declared size: a bomb fails instead of filling memory.
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err instanceof RangeError || err.code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ZipError('too_large', `entry "${entry.name}" inflates beyond its declared ${entry.uncompressedSize} bytes`, start);
      }
      throw new ZipError('malformed', `entry "${entry.name}" is not valid DEFLATE data: ${err.message}`, start);
    }
  }
  if (data.length !== entry.uncompressedSize) {
    throw new ZipError('malformed', `entry "${entry.name}" holds ${data.length} bytes, its header declares ${entry.uncompressedSize}`, start);
  }
  if (crc32(data) >>> 0 !== entry.crc32) throw new ZipError('checksum', `entry "${entry.name}" fails its CRC-32 check`, start);
  return data;
}
