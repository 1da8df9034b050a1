import { ParseError } from '../errors.js';
import { decodeDevicePath } from './devicePath.js';
import { formatGuid } from './guid.js';
import { ByteReader } from './reader.js';
import type { EfiVariable, LoadOption, SignatureData, SignatureList, VariableValue } from './types.js';

/** The signature databases whose DRIVER_CONFIG data is a sequence of EFI_SIGNATURE_LISTs. */
const SIGNATURE_DATABASES = new Set(['PK', 'KEK', 'db', 'dbx', 'dbt', 'dbr', 'vendor_db']);

export type VariableEventKind = 'driver_config' | 'boot' | 'authority' | 'other';

/**
 * UEFI_VARIABLE_DATA: the framing must hold (ParseError otherwise); the value is then
 * interpreted by event kind and name the way tpm2_eventlog and Keylime's enrichment do.
 */
export function decodeEfiVariable(r: ByteReader, kind: VariableEventKind): EfiVariable {
  const guidBytes = r.bytes(16, 'VariableName');
  const nameLength = r.u64Length('UnicodeNameLength', Math.floor(r.remaining / 2));
  const dataLength = r.u64Length('VariableDataLength');
  const name = ucs2(r.bytes(nameLength * 2, 'UnicodeName'));
  const dataStart = r.pos;
  const data = r.bytes(dataLength, 'VariableData');
  const variable: EfiVariable = {
    guid: formatGuid(guidBytes),
    nameLength,
    dataLength,
    name,
    data,
    value: { kind: 'raw' },
  };
  try {
    variable.value = interpretValue(kind, name, new ByteReader(r.buf, dataStart, dataStart + dataLength, `${name} variable`));
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    variable.value = { kind: 'raw', decodeError: { message: e.message, offset: e.offset ?? dataStart } };
  }
  return variable;
}

function interpretValue(kind: VariableEventKind, name: string, r: ByteReader): VariableValue {
  if (kind === 'driver_config') {
    if (name === 'SecureBoot') return enabledFlag(r);
    if (SIGNATURE_DATABASES.has(name)) return { kind: 'signature_lists', lists: decodeSignatureLists(r) };
  } else if (kind === 'authority') {
    if (name === 'db' || name === 'Shim') return { kind: 'signatures', signatures: [signatureData(r, r.remaining)] };
    if (name === 'vendor_db') return { kind: 'signatures', signatures: scanVendorDb(r.rest()) };
    if (name === 'MokListTrusted') return enabledFlag(r);
    if (name === 'SbatLevel') return { kind: 'string', text: stripOneNul(r.rest().toString('utf8')) };
  } else if (kind === 'boot') {
    if (name === 'BootOrder') return bootOrder(r);
    if (/^Boot[0-9a-fA-F]{4}$/.test(name)) return { kind: 'load_option', option: decodeLoadOption(r) };
  }
  return { kind: 'raw' };
}

/** A one-byte boolean; empty means "No". Longer data is not a flag (tpm2-tools rejects it). */
function enabledFlag(r: ByteReader): VariableValue {
  if (r.remaining > 1) r.fail(`a boolean variable has ${r.remaining} bytes, expected at most 1`);
  return { kind: 'enabled', enabled: r.remaining === 1 && r.buf[r.pos] !== 0 };
}

function bootOrder(r: ByteReader): VariableValue {
  if (r.remaining % 2 !== 0) r.fail('BootOrder length is odd');
  const entries: number[] = [];
  while (!r.atEnd()) entries.push(r.u16('BootOrder entry'));
  return { kind: 'boot_order', entries };
}

export function decodeSignatureLists(r: ByteReader): SignatureList[] {
  const lists: SignatureList[] = [];
  while (!r.atEnd()) {
    const at = r.pos;
    const signatureType = formatGuid(r.bytes(16, 'SignatureType'));
    const listSize = r.u32('SignatureListSize');
    const headerSize = r.u32('SignatureHeaderSize');
    const signatureSize = r.u32('SignatureSize');
    if (listSize < 28 || listSize - 28 > r.remaining) r.fail(`SignatureListSize ${listSize} does not fit`, at + 16);
    const body = r.sub(listSize - 28, 'signature list');
    if (headerSize > body.remaining) body.fail(`SignatureHeaderSize ${headerSize} exceeds the list`, at + 20);
    const header = body.bytes(headerSize, 'SignatureHeader');
    if (signatureSize < 16) body.fail(`SignatureSize ${signatureSize} is smaller than an owner GUID`, at + 24);
    if (body.remaining % signatureSize !== 0) {
      body.fail(`list body of ${body.remaining} bytes is not a multiple of SignatureSize ${signatureSize}`, at + 24);
    }
    const signatures: SignatureData[] = [];
    while (!body.atEnd()) signatures.push(signatureData(body, signatureSize));
    lists.push({ signatureType, listSize, headerSize, signatureSize, header, signatures });
  }
  return lists;
}

function signatureData(r: ByteReader, size: number): SignatureData {
  if (size < 16) r.fail(`EFI_SIGNATURE_DATA of ${size} bytes is smaller than an owner GUID`);
  const owner = formatGuid(r.bytes(16, 'SignatureOwner'));
  return { owner, data: r.bytes(size - 16, 'SignatureData') };
}

/**
 * vendor_db as Keylime's enrichment reads it: an owner GUID, then the first DER
 * certificate header (30 82 LL LL) within 100 bytes; the signature data runs from after
 * the GUID to the end of that certificate. Stops at the first piece that does not fit.
 */
export function scanVendorDb(data: Buffer): SignatureData[] {
  const out: SignatureData[] = [];
  let pos = 0;
  while (pos + 16 < data.length) {
    const owner = formatGuid(data, pos);
    const from = pos + 16;
    const window = data.subarray(from, Math.min(data.length, from + 100));
    const at = window.indexOf(Buffer.from([0x30, 0x82]));
    if (at === -1 || from + at + 4 > data.length) break;
    const end = from + at + 4 + data.readUInt16BE(from + at + 2);
    if (end > data.length) break;
    out.push({ owner, data: data.subarray(from, end) });
    pos = end;
  }
  return out;
}

export function decodeLoadOption(r: ByteReader): LoadOption {
  const attributes = r.u32('Attributes');
  const filePathListLength = r.u16('FilePathListLength');
  let end = r.pos;
  while (true) {
    if (end + 2 > r.end) r.fail('Description is not NUL-terminated', end);
    if (r.buf[end] === 0 && r.buf[end + 1] === 0) break;
    end += 2;
  }
  const description = r.bytes(end - r.pos, 'Description').toString('utf16le');
  r.bytes(2, 'Description terminator');
  const devicePathBytes = r.bytes(filePathListLength, 'FilePathList');
  return {
    attributes,
    enabled: (attributes & 1) === 1,
    filePathListLength,
    description,
    devicePath: decodeDevicePath(devicePathBytes),
    devicePathBytes,
    optionalData: r.rest(),
  };
}

export function ucs2(bytes: Buffer): string {
  return bytes.toString('utf16le');
}

export function stripOneNul(s: string): string {
  return s.endsWith('\0') ? s.slice(0, -1) : s;
}
