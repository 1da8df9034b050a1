import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/errors.js';
import { parseEventLog } from '../../../src/mboot/parser.js';
import { decodeDevicePath } from '../../../src/mboot/devicePath.js';
import type { EventContent, LogEvent } from '../../../src/mboot/types.js';
import {
  ascii, efiVariable, END, EV, EventLogBuilder, fakeCert, fileNode, GUID, guid, hash, hdNode, KEYS, linuxBoot, node,
  signatureList, u16, u32, u64, ucs2,
} from './builder.js';

function content<K extends EventContent['kind']>(e: LogEvent | undefined, kind: K): Extract<EventContent, { kind: K }> {
  expect(e?.content.kind).toBe(kind);
  return e!.content as Extract<EventContent, { kind: K }>;
}

describe('parseEventLog on a log written from scratch', () => {
  const builder = linuxBoot();
  const bytes = builder.build();
  const log = parseEventLog(bytes);

  it('reads the Spec ID header and every record with one digest per bank', () => {
    expect(log.format).toBe('crypto-agile');
    expect(log.specId?.signature).toBe('Spec ID Event03');
    expect(log.algorithms.map((a) => [a.name, a.digestSize])).toEqual([['sha1', 20], ['sha256', 32]]);
    expect(log.events).toHaveLength(builder.events.length + 1);
    for (const [i, built] of builder.events.entries()) {
      const e = log.events[i + 1]!;
      expect(e.num).toBe(i + 1);
      expect(e.pcrIndex).toBe(built.pcr);
      expect(e.eventType).toBe(built.type);
      expect(e.data.equals(built.data)).toBe(true);
      expect(e.digests.map((d) => [d.alg, d.digest.toString('hex')])).toEqual([
        ['sha1', built.digests.sha1!.toString('hex')],
        ['sha256', built.digests.sha256!.toString('hex')],
      ]);
    }
    const last = log.events.at(-1)!;
    expect(last.dataOffset + last.data.length).toBe(bytes.length);
  });

  it('decodes EFI variables: SecureBoot, PK/KEK/db/dbx signature lists with owners and data', () => {
    const vars = log.events.filter((e) => e.content.kind === 'efi_variable').map((e) => content(e, 'efi_variable').variable);
    const sb = vars.find((v) => v.name === 'SecureBoot')!;
    expect(sb.guid).toBe(GUID.global);
    expect(sb.value).toEqual({ kind: 'enabled', enabled: true });
    const kek = vars.find((v) => v.name === 'KEK')!;
    expect(kek.value.kind).toBe('signature_lists');
    if (kek.value.kind !== 'signature_lists') return;
    expect(kek.value.lists).toHaveLength(2);
    expect(kek.value.lists[0]!.signatureType).toBe(GUID.certX509);
    expect(kek.value.lists.map((l) => l.signatures[0]!.owner)).toEqual(KEYS.kek.map((k) => k.owner));
    expect(kek.value.lists[1]!.signatures[0]!.data.equals(KEYS.kek[1]!.data)).toBe(true);
    const dbx = vars.find((v) => v.name === 'dbx')!;
    expect(dbx.guid).toBe(GUID.imageSecurityDb);
    if (dbx.value.kind !== 'signature_lists') throw new Error('dbx');
    expect(dbx.value.lists[0]!.signatureType).toBe(GUID.certSha256);
    expect(dbx.value.lists[0]!.signatures.map((s) => s.data.toString('hex'))).toEqual(KEYS.dbx.map((k) => k.data.toString('hex')));
    const authorityDb = log.events.find((e) => e.eventType === EV.EFI_VARIABLE_AUTHORITY)!;
    expect(content(authorityDb, 'efi_variable').variable.value).toMatchObject({ kind: 'signatures', signatures: [{ owner: KEYS.db[0]!.owner }] });
    const sbat = vars.find((v) => v.name === 'SbatLevel')!;
    expect(sbat.value).toEqual({ kind: 'string', text: 'sbat,1,2021030218\n' });
  });

  it('decodes boot variables and image load events with device path text', () => {
    const vars = log.events.filter((e) => e.eventType === EV.EFI_VARIABLE_BOOT).map((e) => content(e, 'efi_variable').variable);
    expect(vars[0]!.value).toEqual({ kind: 'boot_order', entries: [0, 0x1f] });
    const opt = vars[1]!.value;
    expect(opt.kind).toBe('load_option');
    if (opt.kind !== 'load_option') return;
    expect(opt.option.description).toBe('Fedora');
    expect(opt.option.enabled).toBe(true);
    expect(opt.option.devicePath.text).toBe('HD(1,GPT,11111111-2222-3333-4444-555555555555,0x800,0x100000)/File(\\EFI\\fedora\\shimx64.efi)');
    const apps = log.events.filter((e) => e.eventType === EV.EFI_BOOT_SERVICES_APPLICATION).map((e) => content(e, 'image_load').image);
    expect(apps.map((a) => a.devicePath.text)).toEqual([
      'HD(1,GPT,11111111-2222-3333-4444-555555555555,0x800,0x100000)/File(\\EFI\\fedora\\shimx64.efi)',
      'File(\\EFI\\fedora\\grubx64.efi)',
      'File(\\vmlinuz-6.11.5)',
    ]);
    expect(apps[0]!.imageLengthInMemory).toBe(123456n);
  });

  it('decodes GPT, separators, actions, IPL strings (one NUL removed), blobs, handoff tables and S-CRTM versions', () => {
    const gpt = content(log.events.find((e) => e.eventType === EV.EFI_GPT_EVENT), 'gpt').gpt;
    expect(gpt.header.signature).toBe('EFI PART');
    expect(gpt.header.diskGuid).toBe('79ac79fb-f286-4728-8e0d-68114f67364a');
    expect(gpt.partitions.map((p) => [p.partitionTypeGuid, p.startingLba, p.partitionName])).toEqual([
      ['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 0x800n, 'EFI System Partition'],
      ['0fc63daf-8483-4772-8e79-3d69d8477de4', 0x80800n, ''],
    ]);
    expect(content(log.events.find((e) => e.eventType === EV.SEPARATOR), 'separator').value).toBe(0);
    expect(content(log.events.find((e) => e.eventType === EV.EFI_ACTION), 'text').text).toBe('Calling EFI Application from Boot Option');
    const ipls = log.events.filter((e) => e.eventType === EV.IPL).map((e) => content(e, 'ipl').text);
    expect(ipls).toContain('MokList');
    expect(ipls).toContain('grub_cmd: menuentry Fedora {\n\tlinux /vmlinuz\n}');
    expect(content(log.events.find((e) => e.eventType === EV.EFI_PLATFORM_FIRMWARE_BLOB), 'blob')).toMatchObject({ base: 0xfff00000n, length: 0x10000n });
    expect(content(log.events.find((e) => e.eventType === EV.EFI_HANDOFF_TABLES), 'handoff_tables').tables).toEqual([
      { vendorGuid: 'eb9d2d31-2d88-11d3-9a16-0090273fc14d', vendorTable: 0x8f000000n },
    ]);
    expect(content(log.events.find((e) => e.eventType === EV.S_CRTM_VERSION), 'text').text).toBe('1.23');
  });

  it('decodes EV_NO_ACTION StartupLocality, EV_EVENT_TAG, EV_POST_CODE and keeps unknown types raw', () => {
    const b = new EventLogBuilder(['sha256'])
      .noAction(0, Buffer.concat([ascii('StartupLocality\0'), Buffer.from([3])]))
      .noAction(0, Buffer.concat([ascii('SP800-155 Event\0'), Buffer.alloc(8, 1)]))
      .add(0, EV.POST_CODE, ascii('ACPI DATA'))
      .add(0, EV.POST_CODE, Buffer.concat([u64(0xff000000), u64(0x1000)]))
      .add(3, EV.EVENT_TAG, Buffer.concat([u32(0x1234), u32(3), Buffer.from([1, 2, 3]), u32(7), u32(0)]))
      .add(12, 0x7777, Buffer.from('opaque'))
      .add(1, EV.ACTION, ascii('Setup entered'));
    const l = parseEventLog(b.build());
    expect(l.events.map((e) => e.typeName)).toEqual([
      'EV_NO_ACTION', 'EV_NO_ACTION', 'EV_NO_ACTION', 'EV_POST_CODE', 'EV_POST_CODE', 'EV_EVENT_TAG', 'Unknown event type', 'EV_ACTION',
    ]);
    expect(content(l.events[1], 'startup_locality').locality).toBe(3);
    expect(content(l.events[2], 'no_action').signature).toBe('SP800-155 Event');
    expect(content(l.events[3], 'text').text).toBe('ACPI DATA');
    expect(content(l.events[4], 'blob')).toMatchObject({ base: 0xff000000n, length: 0x1000n });
    expect(content(l.events[5], 'event_tag').tags.map((t) => [t.id, t.data.toString('hex')])).toEqual([[0x1234, '010203'], [7, '']]);
    expect(content(l.events[6], 'raw').decodeError).toBeUndefined();
    expect(content(l.events[7], 'text').text).toBe('Setup entered');
  });

  it('keeps content that does not decode as raw with the offset, without failing the log', () => {
    const badList = Buffer.concat([guid(GUID.certX509), u32(9999), u32(0), u32(16)]);
    const b = new EventLogBuilder(['sha256'])
      .add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.global, 'PK', badList))
      .add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.global, 'SecureBoot', Buffer.from([1, 1])))
      .add(4, EV.EFI_BOOT_SERVICES_APPLICATION, Buffer.concat([u64(0), u64(0), u64(0), u64(1000)]));
    const l = parseEventLog(b.build());
    const pk = content(l.events[1], 'efi_variable').variable.value;
    expect(pk.kind).toBe('raw');
    expect(pk.kind === 'raw' && pk.decodeError?.message).toMatch(/SignatureListSize 9999 does not fit/);
    expect(pk.kind === 'raw' && pk.decodeError!.offset).toBe(l.events[1]!.dataOffset + 16 + 8 + 8 + 4 + 16);
    const sb = content(l.events[2], 'efi_variable').variable.value;
    expect(sb.kind === 'raw' && sb.decodeError?.message).toMatch(/boolean variable has 2 bytes/);
    expect(content(l.events[3], 'raw').decodeError?.message).toMatch(/LengthOfDevicePath 1000 exceeds/);
  });

  it('reads a legacy SHA-1 log (no Spec ID event)', () => {
    const rec = (pcr: number, type: number, data: Buffer) =>
      Buffer.concat([u32(pcr), u32(type), hash('sha1', data), u32(data.length), data]);
    const bytes = Buffer.concat([rec(0, EV.S_CRTM_VERSION, ucs2('v1\0')), rec(4, EV.EFI_ACTION, ascii('Calling EFI Application from Boot Option'))]);
    const l = parseEventLog(bytes);
    expect(l.format).toBe('sha1');
    expect(l.specId).toBeNull();
    expect(l.events.map((e) => [e.num, e.pcrIndex, e.typeName])).toEqual([[0, 0, 'EV_S_CRTM_VERSION'], [1, 4, 'EV_EFI_ACTION']]);
    expect(l.events[1]!.digests[0]!.digest.equals(hash('sha1', ascii('Calling EFI Application from Boot Option')))).toBe(true);
  });

  it('reads sha384 and sha512 banks sized by the Spec ID event', () => {
    const l = parseEventLog(new EventLogBuilder(['sha256', 'sha384', 'sha512']).add(4, EV.EFI_ACTION, ascii('x')).build());
    expect(l.events[1]!.digests.map((d) => [d.alg, d.digest.length])).toEqual([['sha256', 32], ['sha384', 48], ['sha512', 64]]);
  });
});

describe('parseEventLog framing errors name the byte offset', () => {
  const good = new EventLogBuilder(['sha256']).add(4, EV.EFI_ACTION, ascii('abc')).build();
  const header = new EventLogBuilder(['sha256']).header();

  function parseError(bytes: Buffer): ParseError {
    try {
      parseEventLog(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(ParseError);
      return e as ParseError;
    }
    throw new Error('expected a ParseError');
  }

  it('rejects an empty log', () => {
    expect(parseError(Buffer.alloc(0)).offset).toBe(0);
  });

  it('rejects a record cut short, at the field that is missing', () => {
    const cut = good.subarray(0, header.length + 10);
    const e = parseError(cut);
    expect(e.offset).toBe(header.length + 8);
    expect(e.message).toMatch(/DigestCount needs 4 bytes/);
  });

  it('rejects an EventSize larger than what is left, at the size field', () => {
    const bad = Buffer.from(good);
    const sizeAt = header.length + 12 + 2 + 32;
    bad.writeUInt32LE(0xffffffff, sizeAt);
    const e = parseError(bad);
    expect(e.offset).toBe(sizeAt);
    expect(e.message).toMatch(/EventSize 4294967295 exceeds/);
  });

  it('rejects a digest algorithm the Spec ID event did not declare and an oversized digest count', () => {
    const bad = Buffer.from(good);
    bad.writeUInt16LE(0x0004, header.length + 12);
    expect(parseError(bad).message).toMatch(/digest algorithm 0x4 is not in the Spec ID event/);
    const many = Buffer.from(good);
    many.writeUInt32LE(0x10000000, header.length + 8);
    expect(parseError(many).offset).toBe(header.length + 8);
  });

  it('rejects a Spec ID event with an impossible algorithm count or digest size', () => {
    const countAt = 32 + 24;
    const bad = Buffer.from(good);
    bad.writeUInt32LE(0xffffffff, countAt);
    expect(parseError(bad).offset).toBe(countAt);
    const size = Buffer.from(good);
    size.writeUInt16LE(20, countAt + 6);
    expect(parseError(size).message).toMatch(/sha256 declared with digest size 20/);
  });
});

describe('device paths', () => {
  it('prints common nodes as libefivar does', () => {
    const p = Buffer.concat([
      node(2, 1, Buffer.concat([u32(0x0a0341d0), u32(0)])),
      node(1, 1, Buffer.from([0, 0x1d])),
      node(3, 0x17, Buffer.concat([u32(1), Buffer.from('002538b221d13750', 'hex')])),
      hdNode(1, 0x800, 0x12c000, 'b8f6bee9-bc10-4c72-b34a-6db8fd8f772c'),
      fileNode('\\EFI\\centos\\shimx64.efi'),
      END,
    ]);
    expect(decodeDevicePath(p).text).toBe(
      'PciRoot(0x0)/Pci(0x1d,0x0)/NVMe(0x1,00-25-38-B2-21-D1-37-50)/HD(1,GPT,b8f6bee9-bc10-4c72-b34a-6db8fd8f772c,0x800,0x12c000)/File(\\EFI\\centos\\shimx64.efi)',
    );
    expect(decodeDevicePath(Buffer.concat([node(2, 1, Buffer.concat([u32(0x050141d0), u32(2)])), END])).text).toBe('Acpi(PNP0501,0x2)');
    expect(decodeDevicePath(Buffer.concat([node(3, 5, Buffer.from([3, 0])), node(3, 0x12, Buffer.concat([u16(1), u16(0xffff), u16(0)])), END])).text).toBe(
      'USB(0x3,0x0)/Sata(0x1,0xffff,0x0)',
    );
    expect(decodeDevicePath(Buffer.concat([node(4, 7, guid(GUID.fvVolume)), node(4, 6, guid(GUID.microsoft)), END])).text).toBe(
      `FvVol(${GUID.fvVolume})/FvFile(${GUID.microsoft})`,
    );
  });

  it('prints unknown nodes generically, splits instances, and gives up on broken framing', () => {
    expect(decodeDevicePath(Buffer.concat([node(0x20, 9, Buffer.from([0xab])), END])).text).toBe('Path(32,9,ab)');
    expect(decodeDevicePath(Buffer.concat([fileNode('a'), node(0x7f, 1, Buffer.alloc(0)), fileNode('b'), END])).text).toBe('File(a),File(b)');
    expect(decodeDevicePath(Buffer.from([4, 4, 2, 0])).text).toBeNull();
    expect(decodeDevicePath(Buffer.from([4, 4, 40, 0, 1])).text).toBeNull();
    expect(decodeDevicePath(node(4, 1, Buffer.alloc(3))).text).toBe('Path(4,1,000000)');
  });
});

describe('signature list framing', () => {
  it('reads several lists with several signatures each and rejects a size that is not a multiple', () => {
    const lists = Buffer.concat([signatureList(GUID.certSha256, KEYS.dbx), signatureList(GUID.certX509, [{ owner: GUID.microsoft, data: fakeCert('a') }])]);
    const l = parseEventLog(new EventLogBuilder(['sha256']).add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.imageSecurityDb, 'dbx', lists)).build());
    const v = (l.events[1]!.content as Extract<EventContent, { kind: 'efi_variable' }>).variable.value;
    expect(v.kind === 'signature_lists' && v.lists.map((x) => x.signatures.length)).toEqual([3, 1]);
    const bad = signatureList(GUID.certSha256, KEYS.dbx);
    bad.writeUInt32LE(50, 24);
    const l2 = parseEventLog(new EventLogBuilder(['sha256']).add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.imageSecurityDb, 'dbx', bad)).build());
    const v2 = (l2.events[1]!.content as Extract<EventContent, { kind: 'efi_variable' }>).variable.value;
    expect(v2.kind === 'raw' && v2.decodeError?.message).toMatch(/not a multiple of SignatureSize 50/);
  });
});
