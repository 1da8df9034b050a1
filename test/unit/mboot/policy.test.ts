import { describe, expect, it } from 'vitest';
import { KeylimeError } from '../../../src/errors.js';
import { parseEventLog } from '../../../src/mboot/parser.js';
import { evaluateExamplePolicy } from '../../../src/mboot/policy/example.js';
import { createMbRefstate } from '../../../src/mboot/policy/createRefstate.js';
import { pythonFullmatch, pythonReEscape } from '../../../src/mboot/policy/pythonRegex.js';
import { ascii, authenticode, efiVariable, EV, GUID, hash, KEYS, linuxBoot, signatureList, u32 } from './builder.js';

type Refstate = Record<string, any>;

function refstateFor(bytes: Buffer, options = {}): Refstate {
  return createMbRefstate(parseEventLog(bytes), options).refstate as Refstate;
}

function evaluate(bytes: Buffer, refstate: unknown, relaxed = false): string {
  return evaluateExamplePolicy(parseEventLog(bytes), refstate, { relaxed });
}

const sha = (label: string) => `0x${authenticode(label).toString('hex')}`;

describe('createMbRefstate on a synthetic secure-boot log', () => {
  const bytes = linuxBoot().build();
  const ref = refstateFor(bytes);

  it('writes the keys in create_mb_policy order with sha256-only digests', () => {
    expect(Object.keys(ref)).toEqual(['has_secureboot', 'scrtm_and_bios', 'pk', 'kek', 'db', 'dbx', 'vendor_db', 'mokdig', 'mokxdig', 'kernels']);
    expect(ref.has_secureboot).toBe(true);
    expect(ref.scrtm_and_bios).toEqual([{
      scrtm: { sha256: `0x${hash('sha256', Buffer.from('1.23\0', 'utf16le')).toString('hex')}` },
      platform_firmware: [{ sha256: `0x${hash('sha256', ascii('fw1')).toString('hex')}` }, { sha256: `0x${hash('sha256', ascii('fw2')).toString('hex')}` }],
    }]);
    expect(ref.pk).toEqual([{ SignatureOwner: KEYS.pk[0]!.owner, SignatureData: `0x${KEYS.pk[0]!.data.toString('hex')}` }]);
    expect(ref.kek).toHaveLength(2);
    expect(ref.dbx.map((k: Refstate) => k.SignatureData)).toEqual(KEYS.dbx.map((k) => `0x${k.data.toString('hex')}`));
    expect(ref.mokdig).toEqual([{ sha256: `0x${hash('sha256', ascii('MokList\0')).toString('hex')}` }]);
    expect(ref.kernels).toEqual([{
      shim_authcode_sha256: sha('shim-15.8'),
      grub_authcode_sha256: sha('grub-2.12'),
      kernel_authcode_sha256: sha('kernel-6.11.5'),
      initrd_plain_sha256: `0x${hash('sha256', ascii('(hd0,gpt2)/initramfs-6.11.5.img\0')).toString('hex')}`,
      kernel_cmdline: '\\(hd0,gpt2\\)/vmlinuz\\-6\\.11\\.5\\ root=UUID=7d3f\\ ro\\ rhgb\\ quiet',
    }]);
  });

  it('the log passes its own refstate', () => {
    expect(evaluate(bytes, ref)).toBe('');
  });

  it('refuses a secure-boot-off log unless asked, and ignores the flag when secure boot is on', () => {
    const off = linuxBoot({ secureBoot: false }).build();
    expect(() => refstateFor(off)).toThrow(KeylimeError);
    expect(() => refstateFor(off)).toThrow(/secure boot is disabled/);
    const created = createMbRefstate(parseEventLog(bytes), { withoutSecureboot: true });
    expect(created.refstate.has_secureboot).toBe(true);
    expect(created.warnings.join()).toMatch(/ignored/);
  });

  it('leaves kernels out (with a warning) when the boot applications do not count up, and the refstate then fails', () => {
    const b = linuxBoot();
    b.events.splice(b.events.findIndex((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION), 1);
    const created = createMbRefstate(parseEventLog(b.build()));
    expect(created.refstate).not.toHaveProperty('kernels');
    expect(created.warnings.join()).toMatch(/found 2 boot applications/);
    expect(evaluate(b.build(), created.refstate)).toMatch(/^policy evaluation failed: refstate\['kernels'\] is undefined instead of a list/);
  });
});

describe('example policy: a changed boot component fails, naming it', () => {
  const good = refstateFor(linuxBoot().build());

  it.each([
    ['shim', { shim: 'shim-evil' }, /bsas \[\[0\] \(shim: event #\d+ \(PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION, HD\(.*shimx64\.efi\)\)\) has no digest approved by \{sha256: \[0x[0-9a-f]{64}\]\} \(it has sha256 0x[0-9a-f]{64}\)/],
    ['grub', { grub: 'grub-evil' }, /\[1\] \(grub: event #\d+ \(PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION, File\(\\EFI\\fedora\\grubx64\.efi\)\)\) has no digest approved by/],
    ['kernel', { kernel: 'kernel-evil' }, /\[2\] \(kernel: event #\d+ .*File\(\\vmlinuz-6\.11\.5\)\)\) has no digest approved by/],
    ['initrd', { initrd: hash('sha256', ascii('evil initrd')) }, /ipl9s \[0\] \(initrd: event #\d+ \(PCR 9, EV_IPL, "\(hd0,gpt2\)\/initramfs-6\.11\.5\.img"\)\) has no digest approved by/],
    ['kernel command line', { cmdline: '(hd0,gpt2)/vmlinuz-6.11.5 root=UUID=7d3f ro rhgb quiet init=/bin/sh' }, /kernel_cmdlines \[0\] \(log has "kernel_cmdline: .* init=\/bin\/sh"\) does not match kernel_cmdline: /],
  ])('%s', (_name, change, reason) => {
    const why = evaluate(linuxBoot(change).build(), good);
    expect(why).toMatch(reason);
    expect(why.startsWith('[')).toBe(true);
  });

  it('secure boot switched off fails at the SecureBoot variable', () => {
    expect(evaluate(linuxBoot({ secureBoot: false }).build(), good)).toMatch(
      /^event #\d+ \(PCR 7, EV_EFI_VARIABLE_DRIVER_CONFIG, SecureBoot\) Event VariableData Enabled is "No", not "Yes"$/,
    );
  });

  it('a PK that is not in the refstate fails at PK', () => {
    const b = linuxBoot();
    const i = b.events.findIndex((e) => e.data.includes(Buffer.from('PK', 'utf16le')));
    b.events[i] = { ...b.events[i]!, data: efiVariable(GUID.global, 'PK', signatureList(GUID.certX509, [{ owner: KEYS.pk[0]!.owner, data: KEYS.kek[0]!.data }])) };
    expect(evaluate(b.build(), good)).toMatch(/\(PCR 7, EV_EFI_VARIABLE_DRIVER_CONFIG, PK\) Event VariableData \[0\] Keys \[0\] \{SignatureOwner: 3cc24e96-.*\} is not in the refstate list/);
  });

  it('a dbx without a required revocation fails; an extra one passes', () => {
    const missing = structuredClone(good);
    missing.dbx.push({ SignatureOwner: GUID.microsoft, SignatureData: `0x${'ab'.repeat(32)}` });
    expect(evaluate(linuxBoot().build(), missing)).toMatch(/dbx\) Event VariableData \[0\] lacks 1 required \(SignatureOwner, SignatureData\) combinations: \{SignatureOwner: 77fa9abd-0359-4d32-bd60-28f4e78f784b, SignatureData: 0xabab/);
    const fewer = structuredClone(good);
    fewer.dbx.pop();
    expect(evaluate(linuxBoot().build(), fewer)).toBe('');
  });

  it('a MokList digest not in mokdig fails at the MokList event', () => {
    const wrong = structuredClone(good);
    wrong.mokdig = [{ sha256: `0x${'00'.repeat(32)}` }];
    expect(evaluate(linuxBoot().build(), wrong)).toMatch(/\(PCR 14, EV_IPL, "MokList"\) \[has no digest approved by \{sha256: \[0x0{64}\]\} \(it has sha256 0x[0-9a-f]{64}\), Event String is "MokList", not "MokListX", /);
  });

  it('a platform firmware blob or S-CRTM change fails naming it', () => {
    const wrong = structuredClone(good);
    wrong.scrtm_and_bios[0].platform_firmware[1] = { sha256: `0x${'11'.repeat(32)}` };
    expect(evaluate(linuxBoot().build(), wrong)).toMatch(/platform_firmware_blobs \[1\] \(platform firmware: event #3 \(PCR 0, EV_EFI_PLATFORM_FIRMWARE_BLOB, base 0xffc00000 length 0x20000\)\) has no digest approved by/);
    const fewer = structuredClone(good);
    fewer.scrtm_and_bios[0].platform_firmware.pop();
    expect(evaluate(linuxBoot().build(), fewer)).toMatch(/\[platform_firmware_blobs  is longer \(2\) than the applicable tests \(1\)\]/);
  });

  it('kernels and scrtm_and_bios entries are alternatives (OR)', () => {
    const two = structuredClone(good);
    two.kernels = [{ ...good.kernels[0], grub_authcode_sha256: sha('other-grub') }, good.kernels[0]];
    expect(evaluate(linuxBoot().build(), two)).toBe('');
    two.kernels = [];
    expect(evaluate(linuxBoot().build(), two)).toBe('does not pass empty disjunction');
  });

  it('a kernel measured twice passes; a stray boot application does not', () => {
    const b = linuxBoot();
    const kernel = b.events.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION).at(-1)!;
    b.events.splice(b.events.indexOf(kernel) + 1, 0, kernel);
    expect(evaluate(b.build(), good)).toBe('');
    b.events.splice(b.events.indexOf(kernel) + 1, 0, kernel);
    expect(evaluate(b.build(), good)).toMatch(/bsas \[ is longer \(5\) than the applicable tests \(3\),  is longer \(5\) than the applicable tests \(4\)\]/);
  });

  it('an event the policy does not know fails with its (PCR, type) combination; a second GPT event fails Once', () => {
    expect(evaluate(linuxBoot().add(6, EV.EFI_ACTION, ascii('UEFI Debug Mode')).build(), good)).toMatch(
      /\(PCR 6, EV_EFI_ACTION, "UEFI Debug Mode"\) has unexpected \('PCRIndex', 'EventType'\) combination \(6, 'EV_EFI_ACTION'\)$/,
    );
    const b = linuxBoot();
    b.events.push(b.events.find((e) => e.type === EV.EFI_GPT_EVENT)!);
    expect(evaluate(b.build(), good)).toMatch(/EV_EFI_GPT_EVENT, disk .*\) test was already run once$/);
  });

  it('checks separators and EV_EFI_ACTION strings against their digests', () => {
    const b = linuxBoot();
    const sep = b.events.findIndex((e) => e.type === EV.SEPARATOR && e.pcr === 4);
    b.events[sep] = { ...b.events[sep]!, digests: { sha1: hash('sha1', ascii('x')), sha256: hash('sha256', ascii('x')) } };
    expect(evaluate(b.build(), good)).toMatch(/\(PCR 4, EV_SEPARATOR, 0x00000000\) \[has no digest approved by/);
    const ff = linuxBoot().add(3, EV.SEPARATOR, u32(0xffffffff));
    // As in Keylime: tpm2-tools prints separator data lowercase, so the "FFFFFFFF" alternative never matches.
    expect(evaluate(ff.build(), good)).toMatch(/EV_SEPARATOR, 0xffffffff\) \[Event is "ffffffff", not "00000000", Event is "ffffffff", not "FFFFFFFF"\]$/);
    const action = linuxBoot().add(5, EV.EFI_ACTION, ascii('Exit Boot Services Returned with Failure'));
    expect(evaluate(action.build(), good)).toBe('');
  });

  it('up to four EV_PLATFORM_CONFIG_FLAGS are accepted, not five', () => {
    const b = linuxBoot();
    for (let i = 0; i < 3; i++) b.add(1, EV.PLATFORM_CONFIG_FLAGS, ascii(`f${i}`));
    expect(evaluate(b.build(), good)).toBe('');
    b.add(1, EV.PLATFORM_CONFIG_FLAGS, ascii('f4'));
    expect(evaluate(b.build(), good)).toMatch(/\[test was already run once, test was already run once, test was already run once, test was already run once\]$/);
  });
});

describe('example policy without secure boot', () => {
  const vmlinuz = hash('sha256', ascii('vmlinuz-6.11.5 bytes'));
  const off = linuxBoot({ secureBoot: false, vmlinuz }).build();
  const ref = refstateFor(off, { withoutSecureboot: true });

  it('writes vmlinuz_plain_sha256 instead of the kernel Authenticode hash and passes', () => {
    expect(ref.has_secureboot).toBe(false);
    expect(Object.keys(ref.kernels[0])).toEqual(['shim_authcode_sha256', 'grub_authcode_sha256', 'vmlinuz_plain_sha256', 'initrd_plain_sha256', 'kernel_cmdline']);
    expect(ref.kernels[0].vmlinuz_plain_sha256).toBe(`0x${vmlinuz.toString('hex')}`);
    expect(evaluate(off, ref)).toBe('');
  });

  it('a different vmlinuz fails naming it; secure boot on fails at SecureBoot', () => {
    const other = linuxBoot({ secureBoot: false, vmlinuz: hash('sha256', ascii('other kernel')) }).build();
    expect(evaluate(other, ref)).toMatch(/vmlinuz \[0\] \(vmlinuz: event #\d+ \(PCR 9, EV_IPL, "\(hd0,gpt2\)\/vmlinuz-6\.11\.5"\)\) has no digest approved by/);
    expect(evaluate(linuxBoot({ secureBoot: true, vmlinuz }).build(), ref)).toMatch(/SecureBoot\) Event VariableData Enabled is "Yes", not "No"/);
  });

  it('empty key lists accept the variable once, unchecked', () => {
    const empty = { ...structuredClone(ref), pk: [], kek: [], db: [], dbx: [] };
    expect(evaluate(off, empty)).toBe('');
    const b = linuxBoot({ secureBoot: false, vmlinuz });
    b.events.push(b.events.find((e) => e.data.includes(Buffer.from('KEK', 'utf16le')))!);
    expect(evaluate(b.build(), empty)).toMatch(/KEK\) Event VariableData test was already run once/);
  });

  it('a firmware-volume app in PCR 4 fails example (as in Keylime) but not example-relaxed', () => {
    const fw = linuxBoot({ secureBoot: false, vmlinuz, firmwareApp: true }).build();
    const fwRef = refstateFor(fw, { withoutSecureboot: true });
    expect(fwRef.kernels).toEqual(ref.kernels);
    expect(evaluate(fw, fwRef)).toBe('[bsas  is longer (3) than the applicable tests (2)]');
    expect(evaluate(fw, fwRef, true)).toBe('');
  });
});

describe('example-relaxed', () => {
  it('accepts further EV_NO_ACTION events and pins extra PCR 0 firmware events as platform firmware', () => {
    const b = linuxBoot({ startupLocality: 3 });
    b.events.splice(3, 0, { pcr: 0, type: EV.POST_CODE, data: ascii('ACPI DATA'), digests: { sha1: hash('sha1', ascii('acpi')), sha256: hash('sha256', ascii('acpi')) } });
    const bytes = b.build();
    const strict = refstateFor(bytes);
    expect(evaluate(bytes, strict)).toBe('event #1 (PCR 0, EV_NO_ACTION, StartupLocality 3) test was already run once');
    const relaxed = refstateFor(bytes, { relaxed: true });
    expect(relaxed.scrtm_and_bios[0].platform_firmware.map((d: Refstate) => d.sha256)).toEqual([
      `0x${hash('sha256', ascii('fw1')).toString('hex')}`,
      `0x${hash('sha256', ascii('acpi')).toString('hex')}`,
      `0x${hash('sha256', ascii('fw2')).toString('hex')}`,
    ]);
    expect(evaluate(bytes, relaxed, true)).toBe('');
    const changed = structuredClone(relaxed);
    changed.scrtm_and_bios[0].platform_firmware[1] = { sha256: `0x${'22'.repeat(32)}` };
    expect(evaluate(bytes, changed, true)).toMatch(/platform_firmware_blobs \[1\] \(platform firmware: event #4 \(PCR 0, EV_POST_CODE, "ACPI DATA"\)\) has no digest approved by/);
  });

  it('accepts several dbx lists as long as together they hold the refstate entries', () => {
    const b = linuxBoot();
    const i = b.events.findIndex((e) => e.data.includes(Buffer.from('dbx', 'utf16le')));
    const lists = Buffer.concat([signatureList(GUID.certX509, [KEYS.db[1]!]), signatureList(GUID.certSha256, KEYS.dbx)]);
    b.events[i] = { ...b.events[i]!, data: efiVariable(GUID.imageSecurityDb, 'dbx', lists) };
    const ref = refstateFor(b.build());
    expect(ref.dbx).toHaveLength(4);
    expect(evaluate(b.build(), ref)).toMatch(/dbx\) Event VariableData  is longer \(2\) than the applicable tests \(1\)/);
    expect(evaluate(b.build(), ref, true)).toBe('');
    const more = structuredClone(ref);
    more.dbx.push({ SignatureOwner: GUID.microsoft, SignatureData: `0x${'cd'.repeat(32)}` });
    expect(evaluate(b.build(), more, true)).toMatch(/lacks 1 required/);
  });
});

describe('refstate validation (policy evaluation failed)', () => {
  const bytes = linuxBoot().build();
  const good = refstateFor(bytes);

  it.each([
    ['not an object', [], /expected the refstate to be an object/],
    ['no pk', (() => { const r = structuredClone(good); delete r.pk; return r; })(), /refstate lacks pk/],
    ['uppercase 0X', (() => { const r = structuredClone(good); r.kernels[0].shim_authcode_sha256 = '0X00'; return r; })(), /"0X00" is not 0x followed by some lowercase hex digits/],
    ['uppercase hex digits', (() => { const r = structuredClone(good); r.scrtm_and_bios[0].scrtm.sha256 = '0xAB'; return r; })(), /"0xAB" is not 0x/],
    ['no scrtm_and_bios', (() => { const r = structuredClone(good); delete r.scrtm_and_bios; return r; })(), /scrtm_and_bios'\] is missing/],
    ['kernel lacking initrd', (() => { const r = structuredClone(good); delete r.kernels[0].initrd_plain_sha256; return r; })(), /lacks fields initrd_plain_sha256/],
    ['bad regex', (() => { const r = structuredClone(good); r.kernels[0].kernel_cmdline = '(unclosed'; return r; })(), /is not a valid regular expression/],
    ['signature without 0x', (() => { const r = structuredClone(good); r.db[0].SignatureData = 'abcd'; return r; })(), /"abcd" does not start with 0x/],
  ])('%s', (_name, refstate, reason) => {
    const why = evaluate(bytes, refstate);
    expect(why).toMatch(/^policy evaluation failed: /);
    expect(why).toMatch(reason);
  });

  it('has_secureboot follows Python truthiness; extra kernel keys are allowed', () => {
    const r = structuredClone(good);
    r.kernels[0].comment = 'extra';
    expect(evaluate(bytes, r)).toBe('');
    r.has_secureboot = 0;
    expect(evaluate(bytes, r)).toMatch(/lacks fields vmlinuz_plain_sha256/);
  });
});

describe('Python regex helpers', () => {
  it('re.escape escapes what Python 3.7+ escapes and nothing else', () => {
    expect(pythonReEscape('(hd0,gpt2)/vmlinuz-5.14.0 root=/dev/mapper/cs-root ro a&b~c#d')).toBe(
      '\\(hd0,gpt2\\)/vmlinuz\\-5\\.14\\.0\\ root=/dev/mapper/cs\\-root\\ ro\\ a\\&b\\~c\\#d',
    );
  });

  it('fullmatch anchors both ends and understands Python-only syntax', () => {
    const escaped = pythonReEscape('a.b (c)');
    expect(pythonFullmatch(escaped).test('a.b (c)')).toBe(true);
    expect(pythonFullmatch(escaped).test('a.b (c) x')).toBe(false);
    expect(pythonFullmatch(escaped).test('axb (c)')).toBe(false);
    expect(pythonFullmatch('(?P<k>ab)(?P=k)').test('abab')).toBe(true);
    expect(pythonFullmatch('(?i)ro quiet').test('RO QUIET')).toBe(true);
    expect(pythonFullmatch('\\Aabc\\Z').test('abc')).toBe(true);
    expect(pythonFullmatch('[]a]+').test(']a]')).toBe(true);
    expect(pythonFullmatch('a|b').test('ab')).toBe(false);
    expect(() => pythonFullmatch('(?x) a')).toThrow();
  });
});
