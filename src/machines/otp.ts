/**
 * HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1/256/512, and the raw HMAC response the
 * luks application returns.
 */
import { createHmac } from 'node:crypto';
import { invalidInput } from '../errors.js';
import type { OtpHashName } from './types.js';

const HASHES: readonly OtpHashName[] = ['sha1', 'sha256', 'sha512'];

/** Reads a token's `hashlib` info (default sha1); anything else is refused. */
export function otpHash(name: string | undefined): OtpHashName {
  const value = (name ?? 'sha1').toLowerCase();
  if (!HASHES.includes(value as OtpHashName)) throw invalidInput(`unsupported OTP hash algorithm: ${name}`);
  return value as OtpHashName;
}

/** 8-byte big-endian counter, the HOTP moving factor. */
export function counterBytes(counter: number | bigint): Buffer {
  const value = BigInt(counter);
  if (value < 0n || value > 0xffffffffffffffffn) throw invalidInput(`OTP counter out of range: ${counter}`);
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(value);
  return buf;
}

export function hmacDigest(key: Buffer, data: Buffer, hash: OtpHashName = 'sha1'): Buffer {
  return createHmac(hash, key).update(data).digest();
}

function checkDigits(digits: number): void {
  if (!Number.isInteger(digits) || digits < 1 || digits > 10) throw invalidInput(`OTP length must be 1..10, not ${digits}`);
}

/** RFC 4226 §5.3: dynamic truncation of the HMAC, modulo 10^digits, zero-padded. */
export function hotp(key: Buffer, counter: number | bigint, digits = 6, hash: OtpHashName = 'sha1'): string {
  checkDigits(digits);
  const mac = hmacDigest(key, counterBytes(counter), hash);
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 time step counter: floor((t - t0) / step). */
export function totpCounter(timeSeconds: number, step = 30, t0 = 0): number {
  if (!(step > 0)) throw invalidInput(`TOTP time step must be positive, not ${step}`);
  return Math.floor((timeSeconds - t0) / step);
}

export function totp(
  key: Buffer,
  timeSeconds: number,
  options: { step?: number; digits?: number; hash?: OtpHashName; t0?: number } = {},
): string {
  return hotp(key, totpCounter(timeSeconds, options.step, options.t0), options.digits ?? 6, options.hash ?? 'sha1');
}

/**
 * HOTP check over [counter, counter + window): the matching counter, or -1. The caller
 * stores match + 1 as the new counter.
 */
export function findHotp(
  key: Buffer,
  otp: string,
  counter: number,
  window: number,
  digits = 6,
  hash: OtpHashName = 'sha1',
): number {
  for (let c = counter; c < counter + window; c++) {
    if (hotp(key, c, digits, hash) === otp) return c;
  }
  return -1;
}
