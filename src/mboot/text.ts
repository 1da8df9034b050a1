import { certificateSummary } from './certificate.js';
import { Guids, guidName, guidSpellings } from './guid.js';
import type { PcrReplay } from './replay.js';
import type { EventContent, EventLog, LogEvent, SignatureData, VariableValue } from './types.js';

/** Human-readable renderings of a parsed log, for `policy mb show-log`. */

const INDENT = '    ';
const MAX_HEX = 64;

function hexClip(data: Buffer): string {
  if (data.length <= MAX_HEX) return data.toString('hex');
  return `${data.subarray(0, MAX_HEX).toString('hex')}... (${data.length} bytes)`;
}

function printable(data: Buffer): string | null {
  const s = data.toString('latin1').replace(/\0+$/, '');
  return s.length > 0 && /^[\x20-\x7e]+$/.test(s) ? s : null;
}

function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

function signatureLine(s: SignatureData, x509: boolean): string {
  const owner = guidName(s.owner) ? `${s.owner} (${guidName(s.owner)})` : s.owner;
  if (!x509) return `owner ${owner}: ${hexClip(s.data)}`;
  const cert = certificateSummary(s.data);
  return `owner ${owner}: X.509 sha256 ${cert.sha256}${cert.subject ? `, subject ${cert.subject}` : ''}${cert.notAfter ? `, expires ${cert.notAfter}` : ''}`;
}

function variableLines(value: VariableValue, data: Buffer): string[] {
  const x509 = guidSpellings(Guids.EFI_CERT_X509);
  switch (value.kind) {
    case 'signature_lists':
      return value.lists.flatMap((l, i) => [
        `signature list ${i}: ${guidName(l.signatureType) ?? l.signatureType}, ${l.signatures.length} entr${l.signatures.length === 1 ? 'y' : 'ies'}`,
        ...l.signatures.map((s) => `  ${signatureLine(s, x509.has(l.signatureType))}`),
      ]);
    case 'signatures':
      return value.signatures.map((s) => signatureLine(s, s.data[0] === 0x30 && s.data[1] === 0x82));
    case 'enabled':
      return [`Enabled: ${value.enabled ? 'Yes' : 'No'}`];
    case 'boot_order':
      return [`BootOrder: ${value.entries.map((n) => `Boot${n.toString(16).padStart(4, '0')}`).join(', ')}`];
    case 'load_option': {
      const o = value.option;
      return [
        `${JSON.stringify(o.description)} (${o.enabled ? 'enabled' : 'disabled'})`,
        `DevicePath: ${o.devicePath.text ?? o.devicePathBytes.toString('hex')}`,
        ...(o.optionalData.length ? [`OptionalData: ${hexClip(o.optionalData)}`] : []),
      ];
    }
    case 'string':
      return [JSON.stringify(value.text)];
    default:
      return [
        ...(data.length ? [`data: ${hexClip(data)}`] : ['data: (empty)']),
        ...(value.decodeError ? [`did not decode: ${value.decodeError.message}`] : []),
      ];
  }
}

function contentLines(c: EventContent, data: Buffer): string[] {
  switch (c.kind) {
    case 'spec_id': {
      const s = c.specId;
      return [
        `${s.signature}: spec ${s.specVersionMajor}.${s.specVersionMinor} errata ${s.specErrata}, platform class ${s.platformClass}, uintnSize ${s.uintnSize}`,
        `banks: ${s.algorithms.map((a) => `${a.name} (${a.digestSize} bytes)`).join(', ')}`,
      ];
    }
    case 'startup_locality':
      return [`StartupLocality: ${c.locality}`];
    case 'no_action':
      return [`${c.signature}: ${hexClip(data)}`];
    case 'separator':
      return [`separator 0x${c.value.toString(16).padStart(8, '0')}`];
    case 'text':
    case 'ipl':
      return [JSON.stringify(c.text)];
    case 'blob':
      return [`${c.description ? `${JSON.stringify(c.description)}: ` : ''}BlobBase ${hex(c.base)}, BlobLength ${hex(c.length)}`];
    case 'efi_variable': {
      const v = c.variable;
      const name = guidName(v.guid);
      return [`variable ${v.name} {${v.guid}${name ? ` ${name}` : ''}}, ${v.dataLength} bytes`, ...variableLines(v.value, v.data)];
    }
    case 'image_load': {
      const i = c.image;
      return [
        `image at ${hex(i.imageLocationInMemory)}, ${i.imageLengthInMemory} bytes, link address ${hex(i.imageLinkTimeAddress)}`,
        `DevicePath: ${i.lengthOfDevicePath === 0 ? '(none)' : i.devicePath.text ?? i.devicePathBytes.toString('hex')}`,
      ];
    }
    case 'gpt': {
      const h = c.gpt.header;
      return [
        `GPT disk ${h.diskGuid}, revision ${hex(h.revision)}, usable LBA ${h.firstUsableLba}-${h.lastUsableLba}, ${c.gpt.partitions.length} partitions`,
        ...c.gpt.partitions.map(
          (p, i) =>
            `  ${i + 1}: ${guidName(p.partitionTypeGuid) ?? p.partitionTypeGuid} ${p.uniquePartitionGuid} LBA ${p.startingLba}-${p.endingLba}${p.partitionName ? ` ${JSON.stringify(p.partitionName)}` : ''}`,
        ),
      ];
    }
    case 'handoff_tables':
      return [
        ...(c.description !== undefined ? [JSON.stringify(c.description)] : []),
        ...c.tables.map((t) => `table ${t.vendorGuid} at ${hex(t.vendorTable)}`),
      ];
    case 'event_tag':
      return c.tags.map((t) => `tag ${hex(t.id)}: ${hexClip(t.data)}`);
    default: {
      if (!data.length) return [];
      const text = printable(data);
      return [
        `data: ${hexClip(data)}${text ? ` ${JSON.stringify(text)}` : ''}`,
        ...(c.decodeError ? [`did not decode: ${c.decodeError.message}`] : []),
      ];
    }
  }
}

/** One event: a heading line, its digests and what its data says. */
export function formatEvent(e: LogEvent): string[] {
  const heading = `#${e.num} PCR ${e.pcrIndex} ${e.typeName}${e.typeName === 'Unknown event type' ? ` (0x${e.eventType.toString(16)})` : ''}  [offset ${e.offset}, ${e.data.length} bytes]`;
  const digests = e.content.kind === 'spec_id' ? [] : e.digests.map((d) => `${d.alg.padEnd(7)} ${d.digest.toString('hex')}`);
  return [heading, ...[...digests, ...contentLines(e.content, e.data)].map((l) => INDENT + l)];
}

export function formatReplay(replay: PcrReplay): string[] {
  const seed = replay.hcrtm
    ? 'PCR 0 started at locality 4 (H-CRTM)'
    : replay.startupLocality
      ? `PCR 0 started at locality ${replay.startupLocality}`
      : 'all PCRs started at zero';
  const lines = [`Replayed PCRs (EV_NO_ACTION not extended; ${seed}):`];
  for (const bank of replay.banks.values()) {
    lines.push(`  ${bank.alg}:`);
    for (const [pcr, v] of [...bank.pcrs].sort((a, b) => a[0] - b[0])) lines.push(`    ${String(pcr).padStart(2)}  ${v.toString('hex')}`);
  }
  for (const b of replay.unsupportedBanks) lines.push(`  ${b}: not replayed (no such hash here)`);
  return lines;
}

export function formatEventLog(log: EventLog, replay: PcrReplay): string[] {
  return [
    `${log.format === 'sha1' ? 'Legacy SHA-1' : 'Crypto-agile'} event log, ${log.size} bytes, ${log.events.length} events`,
    '',
    ...log.events.flatMap(formatEvent),
    '',
    ...formatReplay(replay),
  ];
}

