/**
 * The offline application (§4.4): salted PBKDF2 hashes of the next `count` HOTP values
 * (PIN + OTP), so a machine can check logins while disconnected, plus a refill token.
 * Every answer advances the token counter by `count` and rotates the refill token.
 */
import { randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { internalError, parameterError, validateError } from '../errors.js';
import { getOption } from '../options.js';
import { findHotp, hotp, otpHash } from '../otp.js';
import { DEFAULT_OFFLINE_ROUNDS, pbkdf2Sha512Hash } from '../passlib.js';
import { pyInt } from '../python.js';
import { tokenSecret } from '../tokens.js';
import type { MachineContext, OptionMap, TokenRecord } from '../types.js';
import { withTokenLock } from '../token-lock.js';
import type { AuthItem, AuthItemRequest, MachineApplication } from './types.js';

export const DEFAULT_OFFLINE_COUNT = 100;
export const REFILLTOKEN_BYTES = 40;
const DEFAULT_MAX_COUNT = 10_000;
const DEFAULT_MAX_ROUNDS = 1_000_000;
const HASH_BATCH = 64;

export const offlineApplication: MachineApplication = {
  name: 'offline',
  async computeItem(ctx, request: AuthItemRequest): Promise<AuthItem> {
    const type = request.token.tokentype.toLowerCase();
    if (type === 'webauthn' || type === 'passkey') {
      // FIDO offline data is keyed by the machine name from the User-Agent, which
      // /machine/authitem never passes.
      throw parameterError('Unable to generate refill token without computer name.');
    }
    if (type !== 'hotp') return {};
    return withTokenLock(ctx.repo, request.token.id, async () => {
      const token = (await ctx.repo.findTokenById(request.token.id)) ?? request.token;
      const item: AuthItem = { response: {} };
      if (token.owner) item.user = item.username = token.owner;
      // Rotated before the OTPs are computed: a later failure still leaves it rotated.
      item.refilltoken = await rotateRefillToken(ctx, token);
      const password = request.challenge;
      let pin = '';
      if (password !== undefined && password !== null && password !== '') {
        if (typeof password !== 'string') throw internalError('TypeError: the offline challenge must be a string');
        pin = splitPinPass(password, token.otplen, ctx.prependPin ?? true).pin;
      }
      const count = intOption(request.options, 'count', DEFAULT_OFFLINE_COUNT);
      const rounds = intOption(request.options, 'rounds', DEFAULT_OFFLINE_ROUNDS);
      item.response = await issueOfflineOtps(ctx, token, pin, count, rounds);
      return item;
    });
  },
};

/** `int(options.get(key, default))`: a non-numeric option is a Python ValueError, a 500. */
export function intOption(options: OptionMap, key: string, fallback: number): number {
  const raw = getOption(options, key);
  if (raw === undefined) return fallback;
  const value = pyInt(raw);
  if (value === undefined) throw internalError(`ValueError: invalid literal for int() with base 10: '${raw}'`);
  return value;
}

/**
 * privacyIDEA's split_pin_pass: the OTP is the last `otplen` characters when the PIN is
 * prepended (the default), else the first. Neither part is verified here.
 */
export function splitPinPass(password: string, otplen: number, prependPin: boolean): { pin: string; otp: string } {
  const chars = [...password];
  if (chars.length < otplen) throw parameterError('Could not split password');
  if (prependPin) return { pin: chars.slice(0, chars.length - otplen).join(''), otp: chars.slice(chars.length - otplen).join('') };
  return { pin: chars.slice(otplen).join(''), otp: chars.slice(0, otplen).join('') };
}

async function rotateRefillToken(ctx: MachineContext, token: TokenRecord): Promise<string> {
  const refilltoken = (ctx.randomBytes ?? nodeRandomBytes)(REFILLTOKEN_BYTES).toString('hex');
  await ctx.repo.updateToken(token.id, { info: { refilltoken } });
  return refilltoken;
}

/**
 * Hashes PIN+OTP for counters [token.count, token.count + amount) and advances the
 * counter by `amount`. Keys are the counters as decimal strings.
 */
export async function issueOfflineOtps(
  ctx: MachineContext,
  token: TokenRecord,
  pin: string,
  amount: number,
  rounds: number,
): Promise<Record<string, string>> {
  if (amount < 0) throw parameterError(`Invalid refill amount: ${amount}`);
  const maxCount = ctx.offlineLimits?.maxCount ?? DEFAULT_MAX_COUNT;
  const maxRounds = ctx.offlineLimits?.maxRounds ?? DEFAULT_MAX_ROUNDS;
  if (amount > maxCount) throw parameterError(`Invalid refill amount: ${amount} exceeds the limit of ${maxCount}`);
  if (rounds < 1) throw internalError(`ValueError: pbkdf2_sha512: rounds too low (min_rounds=1)`);
  if (rounds > maxRounds) throw parameterError(`The rounds option ${rounds} exceeds the limit of ${maxRounds}`);
  const response: Record<string, string> = {};
  if (amount === 0) return response;
  const key = tokenSecret(ctx, token);
  const hash = otpHash(token.info.hashlib);
  const prependPin = ctx.prependPin ?? true;
  const first = token.count;
  for (let start = 0; start < amount; start += HASH_BATCH) {
    const batch = Array.from({ length: Math.min(HASH_BATCH, amount - start) }, (_, i) => first + start + i);
    const hashes = await Promise.all(
      batch.map((counter) => {
        const otp = hotp(key, counter, token.otplen, hash);
        return pbkdf2Sha512Hash(prependPin ? pin + otp : otp + pin, { rounds, randomBytes: ctx.randomBytes });
      }),
    );
    batch.forEach((counter, i) => (response[String(counter)] = hashes[i]!));
  }
  await ctx.repo.updateToken(token.id, { count: first + amount });
  return response;
}

export interface RefillResult {
  refilltoken: string;
  response: Record<string, string>;
}

/**
 * /validate/offlinerefill for an hotp token (§4.4): find the OTP the client used among
 * the values issued last, and hand out as many new ones as it consumed.
 */
export async function refillOfflineToken(
  ctx: MachineContext,
  tokenId: number,
  sentRefillToken: string,
  password: string,
  options: OptionMap,
): Promise<RefillResult> {
  return withTokenLock(ctx.repo, tokenId, async () => {
    const token = await ctx.repo.findTokenById(tokenId);
    if (!token) throw parameterError('The token does not exist');
    if (!sameSecret(token.info.refilltoken, sentRefillToken)) {
      throw parameterError('Token is not an offline token or refill token is incorrect');
    }
    let response: Record<string, string> = {};
    if (token.tokentype.toLowerCase() === 'hotp') {
      const count = intOption(options, 'count', DEFAULT_OFFLINE_COUNT);
      const rounds = intOption(options, 'rounds', DEFAULT_OFFLINE_ROUNDS);
      const { pin, otp } = splitPinPass(password, token.otplen, ctx.prependPin ?? true);
      const current = token.count;
      const first = Math.max(0, current - count);
      const matched = findHotp(tokenSecret(ctx, token), otp, first, count, token.otplen, otpHash(token.info.hashlib));
      if (matched < 0) throw validateError('You provided a wrong OTP value.');
      response = await issueOfflineOtps(ctx, token, pin, matched - first + 1, rounds);
      await ctx.repo.updateToken(token.id, { info: { offline_counter: String(count) } });
    }
    const refilltoken = await rotateRefillToken(ctx, token);
    return { refilltoken, response };
  });
}

function sameSecret(stored: string | undefined, sent: string): boolean {
  if (stored === undefined) return false;
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(sent, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
