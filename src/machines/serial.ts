/**
 * Token serials as privacyIDEA generates them: the type's prefix, the number of tokens
 * of that type as four digits, then uppercase random hex up to the serial length (8).
 * A collision moves the number on and draws new hex.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { internalError } from './errors.js';
import type { Awaitable } from './types.js';

export const SERIAL_PREFIXES: Readonly<Record<string, string>> = {
  hotp: 'OATH',
  totp: 'TOTP',
  sshkey: 'SSHK',
  spass: 'PISP',
  webauthn: 'WAN',
  passkey: 'PIPK',
};

/** The luks application only serves totp tokens whose serial starts with this (§4.3). */
export const LUKS_SERIAL_PREFIX = 'UBOM';

export interface SerialOptions {
  /** How many tokens of this type exist already. */
  countOfType: number;
  exists(serial: string): Awaitable<boolean>;
  prefix?: string;
  /** privacyIDEA's SerialLength setting: digits plus hex after the prefix (default 8). */
  serialLength?: number;
  randomBytes?: (size: number) => Buffer;
}

export function serialPrefix(tokentype: string): string {
  return SERIAL_PREFIXES[tokentype.toLowerCase()] ?? tokentype.toUpperCase();
}

export async function generateSerial(tokentype: string, options: SerialOptions): Promise<string> {
  const prefix = options.prefix || serialPrefix(tokentype || 'PIUN');
  const length = options.serialLength ?? 8;
  const random = options.randomBytes ?? nodeRandomBytes;
  const make = (tokenNumber: number) => {
    const number = String(tokenNumber).padStart(4, '0');
    const hexLength = length - number.length;
    const hex = hexLength > 0 ? random(hexLength).toString('hex').toUpperCase().slice(0, hexLength) : '';
    return `${prefix}${number}${hex}`;
  };
  for (let attempt = 0; attempt < 1000; attempt++) {
    const serial = make(options.countOfType + attempt);
    if (!(await options.exists(serial))) return serial;
  }
  throw internalError(`could not find a free serial with prefix ${prefix}`);
}
