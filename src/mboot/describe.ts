import type { LogEvent } from './types.js';

function clip(s: string, n = 80): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 3)}...` : one;
}

/** What an event is about, in a few words: the variable, file, string or action it records. */
export function eventSubject(e: LogEvent): string {
  const c = e.content;
  switch (c.kind) {
    case 'efi_variable':
      return c.variable.name;
    case 'image_load':
      return c.image.devicePath.text ?? `device path ${c.image.devicePathBytes.toString('hex')}`;
    case 'ipl':
    case 'text':
      return JSON.stringify(clip(c.text));
    case 'startup_locality':
      return `StartupLocality ${c.locality}`;
    case 'no_action':
      return c.signature;
    case 'spec_id':
      return c.specId.signature;
    case 'separator':
      return `0x${c.value.toString(16).padStart(8, '0')}`;
    case 'blob':
      return `${c.description ? `${c.description} ` : ''}base 0x${c.base.toString(16)} length 0x${c.length.toString(16)}`;
    case 'gpt':
      return `disk ${c.gpt.header.diskGuid}`;
    default:
      return '';
  }
}

/** `event #57 (PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION, File(\EFI\fedora\grubx64.efi))`. */
export function describeEvent(e: LogEvent): string {
  const subject = eventSubject(e);
  return `event #${e.num} (PCR ${e.pcrIndex}, ${e.typeName}${subject ? `, ${subject}` : ''})`;
}
