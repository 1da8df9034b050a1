import { KeylimeError } from '../../errors.js';
import { isFirmwareVolumeApp } from '../devicePath.js';
import { EventType as T } from '../eventTypes.js';
import type { EventLog, LogEvent } from '../types.js';
import { describeEvent } from '../describe.js';
import { pythonReEscape } from './pythonRegex.js';

export interface CreateRefstateOptions {
  /** `-i` / `--without-secureboot`: allow a log with secure boot off (ignored if it is on). */
  withoutSecureboot?: boolean;
  /** Write a refstate for `example-relaxed`: every PCR 0 firmware event becomes platform firmware. */
  relaxed?: boolean;
}

export interface CreatedRefstate {
  /** Key order as create_mb_policy writes it. */
  refstate: Record<string, unknown>;
  /** What the generator could not derive (e.g. `kernels` left out); the refstate then fails evaluation. */
  warnings: string[];
  secureBoot: boolean;
}

const PCR0_FIRMWARE_RELAXED: ReadonlySet<number> = new Set([
  T.EV_EFI_PLATFORM_FIRMWARE_BLOB, T.EV_EFI_PLATFORM_FIRMWARE_BLOB2, T.EV_S_CRTM_CONTENTS, T.EV_POST_CODE,
  T.EV_NONHOST_CODE, T.EV_NONHOST_CONFIG, T.EV_NONHOST_INFO, T.EV_EFI_HCRTM_EVENT,
]);

function sha256(e: LogEvent | undefined): Record<string, string> {
  const d = e?.digests.find((x) => x.alg === 'sha256');
  return d ? { sha256: `0x${d.digest.toString('hex')}` } : {};
}

function sha256Hex(e: LogEvent): string | undefined {
  return sha256(e).sha256;
}

function ipl(e: LogEvent): string | undefined {
  return e.eventType === T.EV_IPL && e.content.kind === 'ipl' ? e.content.text : undefined;
}

/** True if the log says secure boot was on: some SecureBoot DRIVER_CONFIG event with Enabled = Yes. */
export function secureBootEnabled(log: EventLog): boolean {
  return log.events.some(
    (e) =>
      e.eventType === T.EV_EFI_VARIABLE_DRIVER_CONFIG &&
      e.content.kind === 'efi_variable' &&
      e.content.variable.name === 'SecureBoot' &&
      e.content.variable.value.kind === 'enabled' &&
      e.content.variable.value.enabled,
  );
}

function keysOf(log: EventLog, name: string): Record<string, string>[] {
  let last: LogEvent | undefined;
  for (const e of log.events) {
    if (e.eventType === T.EV_EFI_VARIABLE_DRIVER_CONFIG && e.content.kind === 'efi_variable' && e.content.variable.name.toLowerCase() === name) last = e;
  }
  if (!last || last.content.kind !== 'efi_variable') return [];
  const value = last.content.variable.value;
  if (value.kind !== 'signature_lists') {
    const why = value.kind === 'raw' && value.decodeError ? `: ${value.decodeError.message}` : '';
    throw new KeylimeError('invalid_input', `${describeEvent(last)} holds no EFI signature lists${why}`);
  }
  return value.lists.flatMap((l) =>
    l.signatures.map((s) => ({ SignatureOwner: s.owner, SignatureData: `0x${s.data.toString('hex')}` })),
  );
}

function vendorDb(log: EventLog): Record<string, string>[] {
  return log.events.flatMap((e) => {
    if (e.eventType !== T.EV_EFI_VARIABLE_AUTHORITY || e.content.kind !== 'efi_variable') return [];
    const v = e.content.variable;
    if (v.name !== 'vendor_db' || v.value.kind !== 'signatures') return [];
    return v.value.signatures.map((s) => ({ SignatureOwner: s.owner, SignatureData: `0x${s.data.toString('hex')}` }));
  });
}

function kernels(log: EventLog, secureBoot: boolean, warnings: string[]): Record<string, string>[] | undefined {
  const apps = log.events.filter(
    (e) =>
      e.eventType === T.EV_EFI_BOOT_SERVICES_APPLICATION &&
      !(e.content.kind === 'image_load' && isFirmwareVolumeApp(e.content.image.devicePath.nodes)),
  );
  const countOk = secureBoot ? apps.length === 3 || apps.length === 4 : apps.length === 2;
  if (!countOk) {
    warnings.push(
      `found ${apps.length} boot applications in PCR 4 (firmware-volume apps not counted); ` +
        `expected ${secureBoot ? '3 or 4 (shim, grub, kernel)' : '2 (shim, grub)'}: kernels left out`,
    );
    return undefined;
  }
  const pcr9 = log.events.filter((e) => e.pcrIndex === 9 && ipl(e) !== undefined);
  const initrd = pcr9.find((e) => /initrd|initramfs/.test(ipl(e)!));
  const vmlinuz = pcr9.find((e) => ipl(e)!.includes('vmlinuz'));
  const cmdline = log.events.find((e) => e.pcrIndex === 8 && ipl(e)?.includes('kernel_cmdline'));
  const missing = [
    !initrd && 'an initrd/initramfs EV_IPL event in PCR 9',
    !secureBoot && !vmlinuz && 'a vmlinuz EV_IPL event in PCR 9',
    !cmdline && 'a kernel_cmdline EV_IPL event in PCR 8',
  ].filter(Boolean);
  const hashes = [apps[0]!, apps[1]!, ...(secureBoot ? [apps[2]!] : []), ...(initrd ? [initrd] : []), ...(vmlinuz && !secureBoot ? [vmlinuz] : [])];
  const noSha256 = hashes.filter((e) => !sha256Hex(e)).map(describeEvent);
  if (missing.length || noSha256.length) {
    warnings.push(`the log lacks ${[...missing, ...noSha256.map((d) => `a sha256 digest in ${d}`)].join(', ')}: kernels left out`);
    return undefined;
  }
  const kernel: Record<string, string> = {
    shim_authcode_sha256: sha256Hex(apps[0]!)!,
    grub_authcode_sha256: sha256Hex(apps[1]!)!,
  };
  if (secureBoot) kernel.kernel_authcode_sha256 = sha256Hex(apps[2]!)!;
  else kernel.vmlinuz_plain_sha256 = sha256Hex(vmlinuz!)!;
  kernel.initrd_plain_sha256 = sha256Hex(initrd!)!;
  kernel.kernel_cmdline = pythonReEscape(ipl(cmdline!)!.slice('kernel_cmdline: '.length));
  return [kernel];
}

/**
 * The refstate generator of `keylime-policy create measured-boot` (keylime-ima-mb.md §4.5):
 * sha256-only digests of the S-CRTM version and platform firmware, the PK/KEK/db/dbx keys
 * of the last such variable event, shim's vendor_db, the MokList/MokListX digests and one
 * kernel entry (shim, grub, kernel or vmlinuz, initrd, escaped kernel command line).
 */
export function createMbRefstate(log: EventLog, options: CreateRefstateOptions = {}): CreatedRefstate {
  const warnings: string[] = [];
  const secureBoot = secureBootEnabled(log);
  if (!secureBoot && !options.withoutSecureboot) {
    throw new KeylimeError('invalid_input', 'secure boot is disabled in this event log; use --without-secureboot to create a refstate anyway');
  }
  if (secureBoot && options.withoutSecureboot) warnings.push('secure boot is enabled in this event log; --without-secureboot is ignored');

  const scrtm = log.events.find((e) => e.eventType === T.EV_S_CRTM_VERSION);
  const firmware = log.events.filter((e) =>
    options.relaxed
      ? e.pcrIndex === 0 && PCR0_FIRMWARE_RELAXED.has(e.eventType)
      : e.eventType === T.EV_EFI_PLATFORM_FIRMWARE_BLOB || e.eventType === T.EV_EFI_PLATFORM_FIRMWARE_BLOB2,
  );
  if (!scrtm) warnings.push('the log has no EV_S_CRTM_VERSION event; scrtm is empty');

  const refstate: Record<string, unknown> = {
    has_secureboot: secureBoot,
    scrtm_and_bios: [{ scrtm: sha256(scrtm), platform_firmware: firmware.map((e) => sha256(e)) }],
    pk: keysOf(log, 'pk'),
    kek: keysOf(log, 'kek'),
    db: keysOf(log, 'db'),
    dbx: keysOf(log, 'dbx'),
    vendor_db: vendorDb(log),
    mokdig: log.events.filter((e) => ipl(e) === 'MokList').map((e) => sha256(e)),
    mokxdig: log.events.filter((e) => ipl(e) === 'MokListX').map((e) => sha256(e)),
  };
  const k = kernels(log, secureBoot, warnings);
  if (k) refstate.kernels = k;
  return { refstate, warnings, secureBoot };
}
