/**
 * The real event log of a Lenovo laptop running Fedora 41 with secure boot off
 * (the `binary_bios_measurements` of keylime-ima-mb.md §4.3/§4.4).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkMeasuredBoot } from '../../../src/mboot/measuredBoot.js';
import { parseEventLog } from '../../../src/mboot/parser.js';
import { createMbRefstate } from '../../../src/mboot/policy/createRefstate.js';
import { evaluateExamplePolicy } from '../../../src/mboot/policy/example.js';
import { eventLogToJson } from '../../../src/mboot/render.js';
import { bootAggregates, replayEventLog } from '../../../src/mboot/replay.js';
import { formatEventLog } from '../../../src/mboot/text.js';
import type { EventLog } from '../../../src/mboot/types.js';
import { LAPTOP_EVENT_LOG } from '../../support/fixtures.js';

const FIXTURE = LAPTOP_EVENT_LOG;
const bytes = readFileSync(FIXTURE);
const log = parseEventLog(bytes);

/** PCR values tpm2_eventlog 5.4 prints for this log (it agrees with TCG replay except on PCR 0). */
const TPM2_EVENTLOG = {
  sha1: {
    0: 'ab3e9fd3b9b9911a2496db14911214f7fd0a115c',
    1: '7120c684347e60261ac85383014ea0f21423a78f',
    2: '081983639b4e5cce287d3d907fd813f306436fd7',
    3: 'b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236',
    4: '60ea1bd941d44196a6e0e793d3b3ef675a07bcb8',
    5: '68afe01cbc6b45e7a4a950661a80a4ad85d60540',
    6: 'b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236',
    7: 'b7e9b0d88de19a6f949457be8b6aeb7a4d28fd0a',
    8: 'e4aa684b1a9ee105b63495efe7b9ad376e648a0c',
    9: '08bdebbac6f5d9be59e98a5cf5ae90e83970b548',
    14: 'ffaf5dfab351dc9b3b7a3cf748759e137f1601a8',
  },
  sha256: {
    0: '1877eacbf0290c67521de489ae1ca5d04de12150e522f472f3fb3daeb35e8e43',
    1: 'd268196b8d9585b41e6de98d7b2af9cc2fcc5b8ae5923b354105bf7c4d73b9cc',
    2: '4aa7ce1fed66fdadf81a0cf06a47f14625f72fb4ff5fb5d6aa5d0632c9407878',
    3: '3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969',
    4: 'a77ff9ab296e10186dd7e7082eab94e795b1ba9d84e920b09cf6272f68c2711c',
    5: '569e53aee038897b12b1a0842c1edb67435d53c831bdce67f6440dd2a903925f',
    6: '3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969',
    7: '741fd028c51b4d2fbdcc7f28014cc758d17ccc1fe2ea7ca17b0e8009480a557c',
    8: 'f5dc3feeda9a15dbcc11c6d99572bd063e8b0a435c222b4352c466726b0f5daf',
    9: 'e0bde30667767849f70f6f1f5b561bc3d25d8aff186b8db0ac405d652f80e3c4',
    14: '17cdefd9548f4383b67a37a901673bf3c8ded6f619d36c8007562de1d93c81cc',
  },
} as const;

/**
 * A second, minimal walk over the raw bytes, sharing no code with src/mboot: banks from
 * the Spec ID event, then per record extend each digest (skipping EV_NO_ACTION unless
 * `extendNoAction`), PCR 0 seeded with `pcr0Locality`.
 */
function independentReplay(buf: Buffer, opts: { extendNoAction: boolean; pcr0Locality: number }): Record<string, Record<number, string>> {
  const specSize = buf.readUInt32LE(28);
  const algCount = buf.readUInt32LE(32 + 24);
  const sizes = new Map<number, [string, number]>();
  for (let i = 0; i < algCount; i++) {
    const id = buf.readUInt16LE(32 + 28 + i * 4);
    const size = buf.readUInt16LE(32 + 30 + i * 4);
    sizes.set(id, [id === 4 ? 'sha1' : 'sha256', size]);
  }
  const pcrs: Record<string, Map<number, Buffer>> = { sha1: new Map(), sha256: new Map() };
  for (const [name, size] of sizes.values()) {
    const seed = Buffer.alloc(size);
    seed[size - 1] = opts.pcr0Locality;
    if (opts.pcr0Locality) pcrs[name]!.set(0, seed);
  }
  let pos = 32 + specSize;
  while (pos < buf.length) {
    const pcr = buf.readUInt32LE(pos);
    const type = buf.readUInt32LE(pos + 4);
    const count = buf.readUInt32LE(pos + 8);
    pos += 12;
    for (let i = 0; i < count; i++) {
      const [name, size] = sizes.get(buf.readUInt16LE(pos))!;
      const digest = buf.subarray(pos + 2, pos + 2 + size);
      pos += 2 + size;
      if (type === 3 && !opts.extendNoAction) continue;
      const old = pcrs[name]!.get(pcr) ?? Buffer.alloc(size);
      pcrs[name]!.set(pcr, createHash(name).update(old).update(digest).digest());
    }
    pos += 4 + buf.readUInt32LE(pos);
  }
  const out: Record<string, Record<number, string>> = {};
  for (const [name, m] of Object.entries(pcrs)) out[name] = Object.fromEntries([...m].map(([k, v]) => [k, v.toString('hex')]));
  return out;
}

function replayed(l: EventLog): Record<string, Record<number, string>> {
  const out: Record<string, Record<number, string>> = {};
  for (const bank of replayEventLog(l).banks.values()) out[bank.alg] = Object.fromEntries([...bank.pcrs].map(([k, v]) => [k, v.toString('hex')]));
  return out;
}

describe('the laptop event log', () => {
  it('parses completely: every byte belongs to one of 121 events, and every event decodes', () => {
    expect(log.format).toBe('crypto-agile');
    expect(log.events).toHaveLength(121);
    let end = 0;
    for (const e of log.events) {
      expect(e.offset).toBe(end);
      end = e.dataOffset + e.data.length;
    }
    expect(end).toBe(bytes.length);
    const counts: Record<string, number> = {};
    for (const e of log.events) counts[e.typeName] = (counts[e.typeName] ?? 0) + 1;
    // The same counts tpm2_eventlog reports.
    expect(counts).toEqual({
      EV_NO_ACTION: 2, EV_S_CRTM_CONTENTS: 1, EV_S_CRTM_VERSION: 1, EV_EFI_PLATFORM_FIRMWARE_BLOB: 6, EV_POST_CODE: 2,
      EV_EFI_VARIABLE_DRIVER_CONFIG: 8, EV_SEPARATOR: 8, EV_EFI_BOOT_SERVICES_DRIVER: 3, EV_NONHOST_INFO: 2,
      EV_EFI_BOOT_SERVICES_APPLICATION: 3, EV_EFI_VARIABLE_BOOT: 14, EV_EFI_ACTION: 1, EV_EFI_HANDOFF_TABLES: 1,
      EV_PLATFORM_CONFIG_FLAGS: 1, EV_EFI_GPT_EVENT: 1, EV_IPL: 66, EV_EFI_VARIABLE_AUTHORITY: 1,
    });
    const rawTypes = new Set<string>();
    for (const e of log.events) {
      if (e.content.kind === 'raw') {
        expect(e.content.decodeError).toBeUndefined();
        rawTypes.add(e.typeName);
      }
      if (e.content.kind === 'efi_variable' && e.content.variable.value.kind === 'raw') {
        expect(e.content.variable.value.decodeError).toBeUndefined();
        expect(e.content.variable.name).toMatch(/^Lenovo/);
      }
    }
    expect([...rawTypes].sort()).toEqual(['EV_NONHOST_INFO', 'EV_PLATFORM_CONFIG_FLAGS']);
  });

  it('decodes what the firmware, shim and grub logged', () => {
    const json = eventLogToJson(log, replayEventLog(log));
    const ev = (n: number) => json.events[n] as Record<string, any>;
    expect(ev(0).SpecID[0]).toMatchObject({ Signature: 'Spec ID Event03', uintnSize: 2, numberOfAlgorithms: 2 });
    expect(ev(1).Event).toEqual({ StartupLocality: 3 });
    expect(ev(3).Event).toBe('N40ET41W ');
    expect(ev(12).Event).toMatchObject({ UnicodeName: 'SecureBoot', VariableData: { Enabled: 'No' } });
    expect(ev(13).Event.VariableData[0]).toMatchObject({
      SignatureType: 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072', SignatureListSize: 983, SignatureSize: 955,
      Keys: [{ SignatureOwner: '3cc24e96-22c7-41d8-8863-8e39dcdcc2cf', CertificateSubject: expect.stringContaining('Lenovo Ltd. PK CA 2012') }],
    });
    expect(ev(16).Event.VariableData.map((l: any) => l.Keys.length)).toEqual([1, 1, 267, 191]);
    expect(ev(26).Event.DevicePath).toBe('FvVol(8fc151ae-c96f-4bc9-8c33-107992c7735b)/FvFile(821aca26-29ea-4993-839f-597fc021708d)');
    expect(ev(27).Event.VariableData.slice(0, 3)).toEqual(['Boot0000', 'Boot001f', 'Boot001a']);
    expect(ev(28).Event.VariableData).toEqual({
      Enabled: 'Yes', FilePathListLength: 98, Description: 'Fedora',
      DevicePath: 'HD(1,GPT,b8f6bee9-bc10-4c72-b34a-6db8fd8f772c,0x800,0x80000)/File(\\EFI\\fedora\\shimx64.efi)',
    });
    expect(ev(41).Event).toBe('Calling EFI Application from Boot Option');
    expect(ev(42).Event).toBe('00000000');
    expect(ev(51).Event.Header).toMatchObject({ Signature: 'EFI PART', HeaderCRC32: 0x4b058896, DiskGUID: '79ac79fb-f286-4728-8e0d-68114f67364a' });
    expect(ev(51).Event.Partitions[0]).toMatchObject({ PartitionTypeGUID: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', StartingLBA: 0x800, PartitionName: 'EFI System Partition' });
    expect(ev(52).Event.DevicePath).toBe(
      'PciRoot(0x0)/Pci(0x6,0x0)/Pci(0x0,0x0)/NVMe(0x1,00-25-38-B2-21-D1-37-50)/HD(1,GPT,b8f6bee9-bc10-4c72-b34a-6db8fd8f772c,0x800,0x80000)/File(\\EFI\\fedora\\shimx64.efi)',
    );
    expect(ev(53).Event).toEqual({ String: 'MokList' });
    expect(ev(55).Event).toMatchObject({ VariableName: '605dab50-e046-4300-abb6-3dd810dd8b23', UnicodeName: 'SbatLevel' });
    expect(ev(118).Event.String).toMatch(/^kernel_cmdline: \(hd3,gpt2\)\/vmlinuz-6\.11\.5-300\.fc41\.x86_64 root=UUID=7d3fbd01-.* rhgb quiet$/);
    expect(ev(120).Event).toEqual({ String: '(hd3,gpt2)/initramfs-6.11.5-300.fc41.x86_64.img' });
    const text = formatEventLog(log, replayEventLog(log));
    expect(text.filter((l) => l.startsWith('#'))).toHaveLength(121);
    expect(text.join('\n')).toContain('Replayed PCRs (EV_NO_ACTION not extended; PCR 0 started at locality 3)');
  });

  it('replays to the PCR values an independent walk computes, and to tpm2_eventlog values except PCR 0', () => {
    const ours = replayed(log);
    expect(ours).toEqual(independentReplay(bytes, { extendNoAction: false, pcr0Locality: 3 }));
    for (const bank of ['sha1', 'sha256'] as const) {
      for (const [pcr, value] of Object.entries(TPM2_EVENTLOG[bank])) {
        if (pcr !== '0') expect(ours[bank]![Number(pcr)]).toBe(value);
      }
    }
    // TCG-correct PCR 0 starts at locality 3 and skips EV_NO_ACTION (keylime-ima-mb.md §4.3: 0ee9a7fe…).
    expect(ours.sha256![0]).toBe('0ee9a7feba8f4172f1a7451594aa5731665a4d353ac61814042ce107a00742f2');
    // tpm2_eventlog 5.4's PCR 0 is what extending the EV_NO_ACTION zeros from a zero PCR gives.
    const tools54 = independentReplay(bytes, { extendNoAction: true, pcr0Locality: 0 });
    expect(tools54.sha1![0]).toBe(TPM2_EVENTLOG.sha1[0]);
    expect(tools54.sha256![0]).toBe(TPM2_EVENTLOG.sha256[0]);
  });

  it('computes the boot aggregates Keylime would, given its PCR 0', () => {
    const replay = replayEventLog(log);
    replay.banks.get('sha1')!.pcrs.set(0, Buffer.from(TPM2_EVENTLOG.sha1[0], 'hex'));
    replay.banks.get('sha256')!.pcrs.set(0, Buffer.from(TPM2_EVENTLOG.sha256[0], 'hex'));
    const agg = bootAggregates(replay);
    // keylime-ima-mb.md §1.4 vectors for binary_bios_measurements.
    expect(agg.sha1![0]).toMatch(/^36bd5893.*8a25$/);
    expect(agg.sha1![1]).toMatch(/^0f0afc9b.*9dbe$/);
    expect(agg.sha256![0]).toMatch(/^5d1ef6f5.*99a3$/);
    expect(agg.sha256![1]).toMatch(/^0c17aca3.*8668$/);
  });
});

describe('the laptop log against its own refstate', () => {
  const strictRef = createMbRefstate(log, { withoutSecureboot: true }).refstate;
  const relaxedRef = createMbRefstate(log, { withoutSecureboot: true, relaxed: true }).refstate as Record<string, any>;

  it('generates the refstate create_mb_policy -i would (kernels: shim and grub, firmware apps skipped)', () => {
    expect(strictRef.has_secureboot).toBe(false);
    const kernel = (strictRef.kernels as Record<string, string>[])[0]!;
    expect(kernel.shim_authcode_sha256).toBe(`0x${log.events[52]!.digests[1]!.digest.toString('hex')}`);
    expect(kernel.grub_authcode_sha256).toBe(`0x${log.events[57]!.digests[1]!.digest.toString('hex')}`);
    expect(kernel.vmlinuz_plain_sha256).toBe(`0x${log.events[117]!.digests[1]!.digest.toString('hex')}`);
    expect(kernel.initrd_plain_sha256).toBe(`0x${log.events[120]!.digests[1]!.digest.toString('hex')}`);
    expect(kernel.kernel_cmdline).toMatch(/^\\\(hd3,gpt2\\\)\/vmlinuz\\-6\\\.11\\\.5\\-300\\\.fc41\\\.x86_64\\ root=UUID=7d3fbd01\\-5598/);
    expect((strictRef.scrtm_and_bios as any)[0].platform_firmware).toHaveLength(6);
    expect((strictRef.pk as unknown[]).length).toBe(1);
    expect((strictRef.dbx as unknown[]).length).toBeGreaterThan(200);
    expect((strictRef.mokdig as unknown[]).length).toBe(1);
  });

  it('fails Keylime\'s example policy for the reasons Keylime gives, in log order', () => {
    // Drop each event example rejects and evaluate again, as keylime-ima-mb.md §4.4 lists them.
    const events = [...log.events];
    const reasons: string[] = [];
    for (let round = 0; round < 20; round++) {
      const why = evaluateExamplePolicy({ ...log, events }, strictRef);
      reasons.push(why);
      const m = /^event #(\d+) /.exec(why);
      if (!m) break;
      events.splice(events.findIndex((e) => e.num === Number(m[1])), 1);
    }
    expect(reasons).toEqual([
      'event #1 (PCR 0, EV_NO_ACTION, StartupLocality 3) test was already run once',
      'event #2 (PCR 0, EV_S_CRTM_CONTENTS, "Boot Guard Measured S-CRTM") has unexpected (\'PCRIndex\', \'EventType\') combination (0, \'EV_S_CRTM_CONTENTS\')',
      'event #10 (PCR 0, EV_POST_CODE, "ACPI DATA") has unexpected (\'PCRIndex\', \'EventType\') combination (0, \'EV_POST_CODE\')',
      'event #11 (PCR 0, EV_POST_CODE, "ACPI DATA") has unexpected (\'PCRIndex\', \'EventType\') combination (0, \'EV_POST_CODE\')',
      'event #16 (PCR 7, EV_EFI_VARIABLE_DRIVER_CONFIG, dbx) Event VariableData  is longer (4) than the applicable tests (1)',
      'event #21 (PCR 0, EV_NONHOST_INFO) has unexpected (\'PCRIndex\', \'EventType\') combination (0, \'EV_NONHOST_INFO\')',
      'event #22 (PCR 0, EV_NONHOST_INFO) has unexpected (\'PCRIndex\', \'EventType\') combination (0, \'EV_NONHOST_INFO\')',
      'event #23 (PCR 1, EV_EFI_VARIABLE_DRIVER_CONFIG, LenovoConfig) has unexpected (\'PCRIndex\', \'EventType\') combination (1, \'EV_EFI_VARIABLE_DRIVER_CONFIG\')',
      'event #24 (PCR 1, EV_EFI_VARIABLE_DRIVER_CONFIG, LenovoRuntimeConfig) has unexpected (\'PCRIndex\', \'EventType\') combination (1, \'EV_EFI_VARIABLE_DRIVER_CONFIG\')',
      'event #25 (PCR 1, EV_EFI_VARIABLE_DRIVER_CONFIG, LenovoSecurityConfig) has unexpected (\'PCRIndex\', \'EventType\') combination (1, \'EV_EFI_VARIABLE_DRIVER_CONFIG\')',
      '[bsas  is longer (3) than the applicable tests (2)]',
    ]);
  });

  it('passes example-relaxed with the relaxed refstate', () => {
    expect(evaluateExamplePolicy(log, relaxedRef, { relaxed: true })).toBe('');
  });

  it.each([
    ['shim', 'shim_authcode_sha256', /\[bsas \[0\] \(shim: event #52 .*File\(\\EFI\\fedora\\shimx64\.efi\)\)\) has no digest approved by/],
    ['grub', 'grub_authcode_sha256', /\[bsas \[1\] \(grub: event #57 .*File\(\\EFI\\fedora\\grubx64\.efi\)\)\) has no digest approved by/],
    ['vmlinuz', 'vmlinuz_plain_sha256', /\[vmlinuz \[0\] \(vmlinuz: event #117 \(PCR 9, EV_IPL, "\(hd3,gpt2\)\/vmlinuz-6\.11\.5-300\.fc41\.x86_64"\)\) has no digest/],
    ['initrd', 'initrd_plain_sha256', /\[ipl9s \[0\] \(initrd: event #120 .*initramfs-6\.11\.5-300\.fc41\.x86_64\.img"\)\) has no digest/],
  ])('a changed %s fails naming it', (_name, keyName, reason) => {
    const ref = structuredClone(relaxedRef);
    ref.kernels[0][keyName] = `0x${'5a'.repeat(32)}`;
    expect(evaluateExamplePolicy(log, ref, { relaxed: true })).toMatch(reason);
  });

  it('a changed firmware blob, S-CRTM version or PK fails naming it', () => {
    const blob = structuredClone(relaxedRef);
    blob.scrtm_and_bios[0].platform_firmware[3] = { sha256: `0x${'5a'.repeat(32)}` };
    expect(evaluateExamplePolicy(log, blob, { relaxed: true })).toMatch(/platform_firmware_blobs \[3\] \(platform firmware: event #6 \(PCR 0, EV_EFI_PLATFORM_FIRMWARE_BLOB, base 0xff340000 length 0x3b12c8\)\)/);
    const scrtm = structuredClone(relaxedRef);
    scrtm.scrtm_and_bios[0].scrtm = { sha256: `0x${'5a'.repeat(32)}` };
    expect(evaluateExamplePolicy(log, scrtm, { relaxed: true })).toMatch(/s_crtms \[0\] \(S-CRTM version: event #3 \(PCR 0, EV_S_CRTM_VERSION, "N40ET41W "\)\)/);
    const pk = structuredClone(relaxedRef);
    pk.pk[0].SignatureData = `0x${'00'.repeat(16)}`;
    expect(evaluateExamplePolicy(log, pk, { relaxed: true })).toMatch(/^event #13 \(PCR 7, EV_EFI_VARIABLE_DRIVER_CONFIG, PK\) Event VariableData \[0\] Keys \[0\] \{SignatureOwner: 3cc24e96-22c7-41d8-8863-8e39dcdcc2cf, data sha256 [0-9a-f]{64}\} is not in the refstate list$/);
  });

  it('checkMeasuredBoot: quoted PCRs equal to the replay pass; a changed PCR is measured_boot.invalid_pcr_N', () => {
    const replay = replayEventLog(log);
    const quoted: Record<number, string> = {};
    for (const [pcr, v] of replay.banks.get('sha256')!.pcrs) quoted[pcr] = v.toString('hex');
    quoted[10] = 'ab'.repeat(32);
    quoted[15] = '00'.repeat(32);
    const ok = checkMeasuredBoot({ eventLog: bytes.toString('base64'), quotedPcrs: quoted, hashAlg: 'sha256', mbPolicy: JSON.stringify(relaxedRef), policyName: 'example-relaxed' });
    expect(ok.failures).toEqual([]);
    expect(ok.evaluated).toBe(true);
    expect(ok.checkedPcrs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]);
    const bad = checkMeasuredBoot({ eventLog: bytes, quotedPcrs: { ...quoted, 0: TPM2_EVENTLOG.sha256[0], 15: '11'.repeat(32) }, hashAlg: 'sha256', mbPolicy: relaxedRef, policyName: 'accept-all' });
    expect(bad.checkedPcrs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15]);
    expect(bad.failures).toEqual([
      { id: 'measured_boot.invalid_pcr_0', recoverable: true, context: { context: 'SHA256 boot event log PCR value does not match', got: TPM2_EVENTLOG.sha256[0], expected: quoted[0] } },
      { id: 'measured_boot.invalid_pcr_15', recoverable: true, context: { context: 'SHA256 boot event log PCR value does not match', got: '11'.repeat(32), expected: '00'.repeat(32) } },
    ]);
    const sha1 = checkMeasuredBoot({ eventLog: bytes, quotedPcrs: { 4: TPM2_EVENTLOG.sha1[4] }, hashAlg: 'sha1', mbPolicy: relaxedRef, policyName: 'accept-all' });
    expect(sha1.failures).toEqual([]);
    expect(sha1.bootAggregates.sha256).toHaveLength(2);
  });
});
