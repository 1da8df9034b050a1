import { certificateSummary } from './certificate.js';
import { Guids, guidSpellings } from './guid.js';
import { bootAggregates, type PcrReplay } from './replay.js';
import type { EventContent, EventLog, LogEvent, SignatureData, VariableValue } from './types.js';

/**
 * The event log in the JSON shape Keylime's policies read (tpm2_eventlog's YAML after
 * Keylime's enrichment, keylime-ima-mb.md §4.2), plus a few additive fields for people
 * (offsets, certificate hashes). PCR values are hex strings: JSON numbers cannot hold them.
 */
export interface EventLogJson {
  version: 2;
  format: EventLog['format'];
  events: Record<string, unknown>[];
  pcrs: Record<string, Record<string, string>>;
  boot_aggregates: Record<string, string[]>;
}

const X509 = guidSpellings(Guids.EFI_CERT_X509);

/** u64 fields: a number while exact, else a 0x string. */
function u64(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`;
}

function signature(s: SignatureData, x509: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { SignatureOwner: s.owner, SignatureData: s.data.toString('hex') };
  if (x509) {
    const cert = certificateSummary(s.data);
    out.CertificateSha256 = cert.sha256;
    if (cert.subject) out.CertificateSubject = cert.subject;
  }
  return out;
}

function variableData(v: VariableValue, data: Buffer): unknown {
  switch (v.kind) {
    case 'signature_lists':
      return v.lists.map((l) => ({
        SignatureType: l.signatureType,
        SignatureListSize: l.listSize,
        SignatureHeaderSize: l.headerSize,
        SignatureSize: l.signatureSize,
        Keys: l.signatures.map((s) => signature(s, X509.has(l.signatureType))),
      }));
    case 'signatures':
      return v.signatures.map((s) => signature(s, s.data.length > 4 && s.data[0] === 0x30 && s.data[1] === 0x82));
    case 'enabled':
      return { Enabled: v.enabled ? 'Yes' : 'No' };
    case 'boot_order':
      return v.entries.map((n) => `Boot${n.toString(16).padStart(4, '0')}`);
    case 'load_option':
      return {
        Enabled: v.option.enabled ? 'Yes' : 'No',
        FilePathListLength: v.option.filePathListLength,
        Description: v.option.description,
        DevicePath: v.option.devicePath.text ?? v.option.devicePathBytes.toString('hex'),
      };
    case 'string':
      return { String: v.text };
    default:
      return data.toString('hex');
  }
}

function eventValue(c: EventContent, data: Buffer): unknown {
  switch (c.kind) {
    case 'startup_locality':
      return { StartupLocality: c.locality };
    case 'no_action':
      return { Signature: c.signature, Data: data.toString('hex') };
    case 'text':
      return c.text;
    case 'ipl':
      return { String: c.text };
    case 'blob':
      return { ...(c.description !== undefined ? { BlobDescription: c.description } : {}), BlobBase: u64(c.base), BlobLength: u64(c.length) };
    case 'efi_variable': {
      const v = c.variable;
      return {
        VariableName: v.guid,
        UnicodeNameLength: v.nameLength,
        VariableDataLength: v.dataLength,
        UnicodeName: v.name,
        VariableData: variableData(v.value, v.data),
      };
    }
    case 'image_load': {
      const i = c.image;
      return {
        ImageLocationInMemory: u64(i.imageLocationInMemory),
        ImageLengthInMemory: u64(i.imageLengthInMemory),
        ImageLinkTimeAddress: u64(i.imageLinkTimeAddress),
        LengthOfDevicePath: i.lengthOfDevicePath,
        DevicePath: i.lengthOfDevicePath === 0 ? '' : i.devicePath.text ?? i.devicePathBytes.toString('hex'),
      };
    }
    case 'gpt': {
      const h = c.gpt.header;
      return {
        Header: {
          Signature: h.signature,
          Revision: h.revision,
          HeaderSize: h.headerSize,
          HeaderCRC32: h.headerCrc32,
          MyLBA: u64(h.myLba),
          AlternateLBA: u64(h.alternateLba),
          FirstUsableLBA: u64(h.firstUsableLba),
          LastUsableLBA: u64(h.lastUsableLba),
          DiskGUID: h.diskGuid,
          PartitionEntryLBA: u64(h.partitionEntryLba),
          NumberOfPartitionEntry: h.numberOfPartitionEntries,
          SizeOfPartitionEntry: h.sizeOfPartitionEntry,
          PartitionEntryArrayCRC32: h.partitionEntryArrayCrc32,
        },
        NumberOfPartitions: c.gpt.partitions.length,
        Partitions: c.gpt.partitions.map((p) => ({
          PartitionTypeGUID: p.partitionTypeGuid,
          UniquePartitionGUID: p.uniquePartitionGuid,
          StartingLBA: u64(p.startingLba),
          EndingLBA: u64(p.endingLba),
          Attributes: u64(p.attributes),
          PartitionName: p.partitionName,
        })),
      };
    }
    case 'handoff_tables':
      return {
        ...(c.description !== undefined ? { TableDescription: c.description } : {}),
        NumberOfTables: c.tables.length,
        Tables: c.tables.map((t) => ({ VendorGuid: t.vendorGuid, VendorTable: u64(t.vendorTable) })),
      };
    case 'event_tag':
      return c.tags.map((t) => ({ TaggedEventID: t.id, TaggedEventData: t.data.toString('hex') }));
    default:
      return data.toString('hex');
  }
}

function eventJson(e: LogEvent): Record<string, unknown> {
  const base: Record<string, unknown> = { EventNum: e.num, PCRIndex: e.pcrIndex, EventType: e.typeName };
  if (e.content.kind === 'spec_id') {
    const s = e.content.specId;
    return {
      ...base,
      Digest: e.digests[0]!.digest.toString('hex'),
      EventSize: e.data.length,
      SpecID: [{
        Signature: s.signature,
        platformClass: s.platformClass,
        specVersionMinor: s.specVersionMinor,
        specVersionMajor: s.specVersionMajor,
        specErrata: s.specErrata,
        uintnSize: s.uintnSize,
        numberOfAlgorithms: s.algorithms.length,
        Algorithms: s.algorithms.map((a) => ({ algorithmId: a.name, digestSize: a.digestSize })),
        vendorInfoSize: s.vendorInfo.length,
      }],
      Offset: e.offset,
    };
  }
  const out: Record<string, unknown> = {
    ...base,
    DigestCount: e.digests.length,
    Digests: e.digests.map((d) => ({ AlgorithmId: d.alg, Digest: d.digest.toString('hex') })),
    EventSize: e.data.length,
  };
  if (e.data.length > 0) out.Event = eventValue(e.content, e.data);
  if (e.content.kind === 'raw' && e.content.decodeError) out.DecodeError = e.content.decodeError.message;
  if (e.content.kind === 'efi_variable' && e.content.variable.value.kind === 'raw' && e.content.variable.value.decodeError) {
    out.DecodeError = e.content.variable.value.decodeError.message;
  }
  out.Offset = e.offset;
  return out;
}

export function eventLogToJson(log: EventLog, replay: PcrReplay): EventLogJson {
  const pcrs: Record<string, Record<string, string>> = {};
  for (const bank of replay.banks.values()) {
    const values: Record<string, string> = {};
    for (const [pcr, value] of [...bank.pcrs].sort((a, b) => a[0] - b[0])) values[String(pcr)] = value.toString('hex');
    pcrs[bank.alg] = values;
  }
  return {
    version: 2,
    format: log.format,
    events: log.events.map(eventJson),
    pcrs,
    boot_aggregates: bootAggregates(replay) as Record<string, string[]>,
  };
}
