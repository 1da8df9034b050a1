/**
 * The luks application (§4.3): a challenge and the raw HMAC of a YubiKey-style totp token
 * (serial prefix UBOM) over it, for a LUKS key slot unlocked by challenge-response.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { internalError } from '../errors.js';
import { counterBytes, hmacDigest, otpHash, totpCounter } from '../otp.js';
import { LUKS_SERIAL_PREFIX } from '../serial.js';
import { tokenSecret } from '../tokens.js';
import type { MachineContext, TokenRecord } from '../types.js';
import type { AuthItem, AuthItemRequest, MachineApplication } from './types.js';

export const luksApplication: MachineApplication = {
  name: 'luks',
  async computeItem(ctx, { token, challenge }: AuthItemRequest): Promise<AuthItem> {
    if (token.tokentype.toLowerCase() !== 'totp' || !token.serial.startsWith(LUKS_SERIAL_PREFIX)) return {};
    let challengeHex: string;
    if (challenge === undefined || challenge === null) {
      challengeHex = (ctx.randomBytes ?? nodeRandomBytes)(32).toString('hex');
    } else if (typeof challenge === 'string') {
      challengeHex = challenge;
    } else {
      throw internalError('TypeError: the luks challenge must be a hex string');
    }
    const item: AuthItem = { challenge: challengeHex };
    // A disabled token still yields its challenge, only without a response.
    if (token.active) item.response = luksResponse(ctx, token, challengeHex);
    return item;
  },
};

/**
 * Lowercase hex HMAC over the hex-decoded challenge, untruncated. An empty challenge falls
 * through to the HMAC of the current TOTP time counter, as in privacyIDEA.
 */
export function luksResponse(ctx: MachineContext, token: TokenRecord, challengeHex: string): string {
  const hash = otpHash(token.info.hashlib);
  const key = tokenSecret(ctx, token);
  let data: Buffer;
  if (challengeHex === '') {
    const step = Number(token.info.timeStep ?? '30');
    data = counterBytes(totpCounter((ctx.now ?? Date.now)() / 1000, Number.isInteger(step) && step > 0 ? step : 30));
  } else {
    if (challengeHex.length % 2 !== 0) throw internalError('binascii.Error: Odd-length string');
    if (!/^[0-9a-fA-F]*$/.test(challengeHex)) throw internalError('binascii.Error: Non-hexadecimal digit found');
    data = Buffer.from(challengeHex, 'hex');
  }
  return hmacDigest(key, data, hash).toString('hex');
}
