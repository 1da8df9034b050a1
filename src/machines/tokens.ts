/**
 * Token records (§5): enrolment of sshkey, hotp, totp (and luks-style totp with a UBOM
 * serial) and spass tokens, their public view, and the operations the token CLI needs.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { parameterError, resourceNotFound } from './errors.js';
import { otpHash } from './otp.js';
import { openSecret, sealSecret } from './secret-box.js';
import { LUKS_SERIAL_PREFIX, generateSerial } from './serial.js';
import type { MachineContext, NewTokenRecord, OtpHashName, TokenRecord } from './types.js';

export const SSH_KEY_TYPES = [
  'ssh-rsa',
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'sk-ssh-ed25519@openssh.com',
] as const;

export interface SshPublicKey {
  type: string;
  key: string;
  comment: string;
}

/** Splits on the first two single spaces, as privacyIDEA does; the comment may hold spaces. */
export function parseSshPublicKey(line: string): SshPublicKey {
  const first = line.indexOf(' ');
  const type = first < 0 ? line : line.slice(0, first);
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) throw parameterError('The keytype you specified is not supported.');
  if (first < 0) throw parameterError('Missing key.');
  const rest = line.slice(first + 1);
  const second = rest.indexOf(' ');
  const key = second < 0 ? rest : rest.slice(0, second);
  const comment = second < 0 ? '' : rest.slice(second + 1);
  if (key === '') throw parameterError('Missing key.');
  return { type, key, comment };
}

/** The public key line the ssh application hands out: the comment only when non-empty. */
export function sshKeyLine(token: TokenRecord): string {
  const { ssh_type: type = '', ssh_key: key = '', ssh_comment: comment = '' } = token.info;
  return comment ? `${type} ${key} ${comment}` : `${type} ${key}`;
}

export type EnrollType = 'hotp' | 'totp' | 'luks' | 'sshkey' | 'spass';

export interface TokenEnrollment {
  type: EnrollType;
  serial?: string;
  /** The HMAC key as hex; without it a random key is generated (hotp, totp, luks). */
  otpkey?: string;
  otplen?: number;
  hashlib?: string;
  /** TOTP time step in seconds (30 or 60 in privacyIDEA; any positive integer here). */
  timeStep?: number;
  /** sshkey: the public key line. */
  sshkey?: string;
  owner?: string | null;
  description?: string;
  active?: boolean;
}

export interface EnrolledToken {
  token: TokenRecord;
  /** The generated key as hex, returned once so it can be put on the device. */
  generatedKey?: string;
}

const HASH_KEY_BYTES: Record<OtpHashName, number> = { sha1: 20, sha256: 32, sha512: 64 };

export async function enrollToken(ctx: MachineContext, input: TokenEnrollment): Promise<EnrolledToken> {
  const tokentype = input.type === 'luks' ? 'totp' : input.type;
  if (!['hotp', 'totp', 'sshkey', 'spass'].includes(tokentype)) throw parameterError(`Token type ${String(input.type)} is not supported.`);
  const repo = ctx.repo;
  let serial = input.serial;
  if (serial !== undefined) {
    if (!/^[\x21-\x7e]{1,40}$/.test(serial)) throw parameterError('The serial must be 1 to 40 printable characters without spaces.');
    if (await repo.findTokenBySerial(serial)) throw parameterError(`A token with serial ${serial} already exists.`);
    if (input.type === 'luks' && !serial.startsWith(LUKS_SERIAL_PREFIX)) {
      throw parameterError(`A luks token serial must start with ${LUKS_SERIAL_PREFIX}.`);
    }
  } else {
    const tokens = await repo.listTokens();
    serial = await generateSerial(tokentype, {
      countOfType: tokens.filter((t) => t.tokentype === tokentype).length,
      exists: async (s) => (await repo.findTokenBySerial(s)) !== undefined,
      prefix: input.type === 'luks' ? LUKS_SERIAL_PREFIX : undefined,
      randomBytes: ctx.randomBytes,
    });
  }
  const otplen = input.otplen ?? 6;
  if (!Number.isInteger(otplen) || otplen < 1 || otplen > 10) throw parameterError('otplen must be an integer from 1 to 10.');
  const info: Record<string, string> = {};
  let secret: TokenRecord['secret'] = null;
  let generatedKey: string | undefined;
  if (tokentype === 'hotp' || tokentype === 'totp') {
    const hash = otpHashParam(input.hashlib);
    info.hashlib = hash;
    if (tokentype === 'totp') {
      const step = input.timeStep ?? 30;
      if (!Number.isInteger(step) || step < 1) throw parameterError('timeStep must be a positive integer.');
      info.timeStep = String(step);
    }
    let key: Buffer;
    if (input.otpkey !== undefined) {
      if (!/^(?:[0-9a-fA-F]{2})+$/.test(input.otpkey)) throw parameterError('otpkey must be a non-empty hex string.');
      key = Buffer.from(input.otpkey, 'hex');
    } else {
      key = (ctx.randomBytes ?? nodeRandomBytes)(HASH_KEY_BYTES[hash]);
      generatedKey = key.toString('hex');
    }
    secret = sealSecret(key, ctx.secretKey, secretContext(serial), ctx.randomBytes);
  } else if (tokentype === 'sshkey') {
    if (!input.sshkey) throw parameterError('Missing parameter: sshkey');
    const parsed = parseSshPublicKey(input.sshkey);
    info.ssh_type = parsed.type;
    info.ssh_key = parsed.key;
    info.ssh_comment = parsed.comment;
  }
  const record: NewTokenRecord = {
    serial,
    tokentype,
    active: input.active ?? true,
    owner: input.owner ?? null,
    description: input.description ?? '',
    otplen,
    count: 0,
    countWindow: 10,
    secret,
    info,
  };
  const token = await repo.insertToken(record);
  return generatedKey === undefined ? { token } : { token, generatedKey };
}

function otpHashParam(name: string | undefined): OtpHashName {
  try {
    return otpHash(name);
  } catch {
    throw parameterError(`hashlib must be sha1, sha256 or sha512, not ${name}.`);
  }
}

/** Associated data binding a sealed secret to its token. */
export function secretContext(serial: string): string {
  return `keylime-ts token secret ${serial}`;
}

/** The token's HMAC key. */
export function tokenSecret(ctx: MachineContext, token: TokenRecord): Buffer {
  if (!token.secret) return Buffer.alloc(0);
  return openSecret(token.secret, ctx.secretKey, secretContext(token.serial));
}

/** What a token may show outside the store: never its sealed secret. */
export type TokenView = Pick<TokenRecord, 'serial' | 'tokentype' | 'active' | 'owner' | 'description' | 'otplen' | 'count' | 'info'>;

/** A token without its secret and without refill tokens, for listings. */
export function tokenView(token: TokenRecord): TokenView {
  const info = Object.fromEntries(Object.entries(token.info).filter(([key]) => !key.startsWith('refilltoken')));
  return {
    serial: token.serial,
    tokentype: token.tokentype,
    active: token.active,
    owner: token.owner,
    description: token.description,
    otplen: token.otplen,
    count: token.count,
    info,
  };
}

export async function requireToken(ctx: MachineContext, serial: string): Promise<TokenRecord> {
  const token = await ctx.repo.findTokenBySerial(serial);
  if (!token) throw resourceNotFound(`Token with serial ${serial} does not exist.`);
  return token;
}

/** Deletes a token and, cascading, its machine bindings. */
export async function deleteToken(ctx: MachineContext, serial: string): Promise<void> {
  const token = await requireToken(ctx, serial);
  await ctx.repo.deleteToken(token.id);
}

export async function setTokenActive(ctx: MachineContext, serial: string, active: boolean): Promise<void> {
  const token = await requireToken(ctx, serial);
  await ctx.repo.updateToken(token.id, { active });
}
