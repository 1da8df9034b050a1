import { ParseError } from '../errors.js';
import { decodeDevicePath } from './devicePath.js';
import { decodeEfiVariable, stripOneNul, type VariableEventKind } from './efiVariable.js';
import { EventType as T } from './eventTypes.js';
import { decodeGpt } from './gpt.js';
import { formatGuid } from './guid.js';
import { ByteReader } from './reader.js';
import type { EventContent, HandoffTable, ImageLoad, TaggedEvent } from './types.js';

const variableKinds = new Map<number, VariableEventKind>([
  [T.EV_EFI_VARIABLE_DRIVER_CONFIG, 'driver_config'],
  [T.EV_EFI_VARIABLE_BOOT, 'boot'],
  [T.EV_EFI_VARIABLE_BOOT2, 'boot'],
  [T.EV_EFI_VARIABLE_AUTHORITY, 'authority'],
]);

/**
 * Interprets the data of one event (not the header record). Framing errors inside the
 * data become a `raw` content with the error; the caller has already checked that the
 * data lies within the log.
 */
export function decodeEventContent(eventType: number, buf: Buffer, start: number, end: number): EventContent {
  const r = new ByteReader(buf, start, end, 'event data');
  try {
    return decode(eventType, r);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { kind: 'raw', decodeError: { message: e.message, offset: e.offset ?? start } };
  }
}

function decode(eventType: number, r: ByteReader): EventContent {
  const variableKind = variableKinds.get(eventType);
  if (variableKind) return { kind: 'efi_variable', variable: decodeEfiVariable(r, variableKind) };
  switch (eventType) {
    case T.EV_NO_ACTION:
      return noAction(r);
    case T.EV_SEPARATOR:
      return r.remaining === 4 ? { kind: 'separator', value: r.u32('separator') } : { kind: 'raw' };
    case T.EV_EFI_ACTION:
    case T.EV_ACTION:
    case T.EV_EFI_HCRTM_EVENT:
      return { kind: 'text', text: r.rest().toString('utf8') };
    case T.EV_IPL:
      return { kind: 'ipl', text: stripOneNul(r.rest().toString('utf8')) };
    case T.EV_POST_CODE:
    case T.EV_S_CRTM_CONTENTS:
      // tpm2-tools reads exactly 16 bytes as a blob; firmware also writes text here.
      return r.remaining === 16 ? blob(r) : { kind: 'text', text: stripOneNul(r.rest().toString('utf8')) };
    case T.EV_EFI_PLATFORM_FIRMWARE_BLOB:
      return blob(r);
    case T.EV_EFI_PLATFORM_FIRMWARE_BLOB2: {
      const description = r.bytes(r.u8('BlobDescriptionSize'), 'BlobDescription').toString('utf8');
      return { ...blob(r), description: stripOneNul(description) };
    }
    case T.EV_S_CRTM_VERSION:
      return { kind: 'text', text: versionString(r.rest()) };
    case T.EV_EFI_BOOT_SERVICES_APPLICATION:
    case T.EV_EFI_BOOT_SERVICES_DRIVER:
    case T.EV_EFI_RUNTIME_SERVICES_DRIVER:
      return { kind: 'image_load', image: imageLoad(r) };
    case T.EV_EFI_GPT_EVENT:
      return { kind: 'gpt', gpt: decodeGpt(r) };
    case T.EV_EFI_HANDOFF_TABLES:
      return { kind: 'handoff_tables', tables: handoffTables(r) };
    case T.EV_EFI_HANDOFF_TABLES2: {
      const description = stripOneNul(r.bytes(r.u8('TableDescriptionSize'), 'TableDescription').toString('utf8'));
      return { kind: 'handoff_tables', description, tables: handoffTables(r) };
    }
    case T.EV_EVENT_TAG:
      return { kind: 'event_tag', tags: taggedEvents(r) };
    default:
      return { kind: 'raw' };
  }
}

const STARTUP_LOCALITY = Buffer.from('StartupLocality\0', 'latin1');

function noAction(r: ByteReader): EventContent {
  const data = r.rest();
  if (data.length === 17 && data.subarray(0, 16).equals(STARTUP_LOCALITY)) {
    return { kind: 'startup_locality', locality: data[16]! };
  }
  // Other EV_NO_ACTION events (SP800-155 Event, NvIndexInstance...) start with a 16-byte signature.
  const head = data.subarray(0, 16);
  const nul = head.indexOf(0);
  const signature = (nul === -1 ? head : head.subarray(0, nul)).toString('latin1');
  return /^[\x20-\x7e]+$/.test(signature) ? { kind: 'no_action', signature } : { kind: 'raw' };
}

function blob(r: ByteReader): EventContent & { kind: 'blob' } {
  const base = r.u64('BlobBase');
  const length = r.u64('BlobLength');
  return { kind: 'blob', base, length };
}

/** S-CRTM versions are usually UCS-2 with a terminating NUL, sometimes ASCII. */
function versionString(data: Buffer): string {
  const looksUcs2 = data.length >= 2 && data.length % 2 === 0 && data.every((b, i) => i % 2 === 0 || b === 0);
  const s = looksUcs2 ? data.toString('utf16le') : data.toString('latin1');
  return s.replace(/\0+$/, '');
}

function imageLoad(r: ByteReader): ImageLoad {
  const imageLocationInMemory = r.u64('ImageLocationInMemory');
  const imageLengthInMemory = r.u64('ImageLengthInMemory');
  const imageLinkTimeAddress = r.u64('ImageLinkTimeAddress');
  const lengthOfDevicePath = r.u64Length('LengthOfDevicePath');
  const devicePathBytes = r.bytes(lengthOfDevicePath, 'DevicePath');
  return {
    imageLocationInMemory,
    imageLengthInMemory,
    imageLinkTimeAddress,
    lengthOfDevicePath,
    devicePathBytes,
    devicePath: decodeDevicePath(devicePathBytes),
  };
}

function handoffTables(r: ByteReader): HandoffTable[] {
  const count = r.u64Length('NumberOfTables', Math.floor(r.remaining / 24));
  const tables: HandoffTable[] = [];
  for (let i = 0; i < count; i++) {
    tables.push({ vendorGuid: formatGuid(r.bytes(16, 'VendorGuid')), vendorTable: r.u64('VendorTable') });
  }
  return tables;
}

function taggedEvents(r: ByteReader): TaggedEvent[] {
  const tags: TaggedEvent[] = [];
  while (!r.atEnd()) {
    const id = r.u32('taggedEventID');
    tags.push({ id, data: r.bytes(r.u32('taggedEventDataSize'), 'taggedEventData') });
  }
  return tags;
}
