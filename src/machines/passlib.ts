/**
 * passlib's pbkdf2_sha512 hash format, which offline clients (privacyIDEA PAM, the
 * credential provider) verify: `$pbkdf2-sha512$<rounds>$<ab64 salt>$<ab64 checksum>`,
 * 10-byte salt, 64-byte PBKDF2-HMAC-SHA512 checksum, "adapted base64" (`+` → `.`, no `=`).
 */
import { pbkdf2, randomBytes as nodeRandomBytes } from 'node:crypto';
import { ParseError, invalidInput } from '../errors.js';

export const DEFAULT_OFFLINE_ROUNDS = 6549;
export const PASSLIB_SALT_SIZE = 10;
const MAX_ROUNDS = 0xffffffff;

export function ab64Encode(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '.').replace(/=+$/, '');
}

export function ab64Decode(text: string): Buffer {
  if (!/^[A-Za-z0-9./]*$/.test(text) || text.length % 4 === 1) throw new ParseError('invalid adapted base64');
  return Buffer.from(text.replace(/\./g, '+'), 'base64');
}

function derive(password: string, salt: Buffer, rounds: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), salt, rounds, 64, 'sha512', (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export interface Pbkdf2Options {
  rounds?: number;
  salt?: Buffer;
  randomBytes?: (size: number) => Buffer;
}

export async function pbkdf2Sha512Hash(password: string, options: Pbkdf2Options = {}): Promise<string> {
  const rounds = options.rounds ?? DEFAULT_OFFLINE_ROUNDS;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) throw invalidInput(`pbkdf2 rounds out of range: ${rounds}`);
  const salt = options.salt ?? (options.randomBytes ?? nodeRandomBytes)(PASSLIB_SALT_SIZE);
  const checksum = await derive(password, salt, rounds);
  return `$pbkdf2-sha512$${rounds}$${ab64Encode(salt)}$${ab64Encode(checksum)}`;
}

export interface ParsedPbkdf2Hash {
  rounds: number;
  salt: Buffer;
  checksum: Buffer;
}

export function parsePbkdf2Sha512(hash: string): ParsedPbkdf2Hash {
  const match = /^\$pbkdf2-sha512\$([1-9]\d{0,9})\$([A-Za-z0-9./]*)\$([A-Za-z0-9./]{86})$/.exec(hash);
  if (!match) throw new ParseError('not a passlib pbkdf2-sha512 hash');
  const rounds = Number(match[1]);
  if (rounds > MAX_ROUNDS) throw new ParseError('pbkdf2 rounds out of range');
  return { rounds, salt: ab64Decode(match[2]!), checksum: ab64Decode(match[3]!) };
}

export async function pbkdf2Sha512Verify(password: string, hash: string): Promise<boolean> {
  const parsed = parsePbkdf2Sha512(hash);
  const derived = await derive(password, parsed.salt, parsed.rounds);
  return derived.equals(parsed.checksum);
}
