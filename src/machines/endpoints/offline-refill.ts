/**
 * POST /validate/offlinerefill (§4.4): the client proves which offline OTP it used last
 * and gets that many fresh hashes and a new refill token.
 */
import { refillOfflineToken } from '../applications/offline.js';
import { missingParameter, parameterError, validateError } from '../errors.js';
import { requireParam } from '../params.js';
import { pyStr } from '../python.js';
import type { MachineContext, Params } from '../types.js';
import { endpoint } from './scope.js';

export interface OfflineRefillAnswer {
  /** `result.value` */
  value: true;
  /** Top-level `auth_items` of the envelope (pass as `extra`). */
  auth_items: { offline: Array<{ refilltoken: string; response: Record<string, string>; serial: string }> };
}

export async function offlineRefill(ctx: MachineContext, params: Params): Promise<OfflineRefillAnswer> {
  try {
    return await endpoint(ctx, async (scoped) => {
      const serial = pyStr(requireParam(params, 'serial'));
      const refilltoken = pyStr(requireParam(params, 'refilltoken'));
      const pass = params.get('pass');
      if (pass === undefined || pass === null) throw missingParameter('pass');
      const token = await scoped.repo.findTokenBySerial(serial);
      if (!token) throw parameterError('The token does not exist');
      if (!token.active) throw parameterError('The token is not valid.');
      const offline = (await scoped.repo.listBindings({ tokenId: token.id })).filter((b) => b.application === 'offline');
      if (offline.length === 0) throw parameterError('Token is not an offline token or refill token is incorrect');
      const result = await refillOfflineToken(scoped, token.id, refilltoken, pyStr(pass), offline[0]!.options);
      return { value: true, auth_items: { offline: [{ refilltoken: result.refilltoken, response: result.response, serial }] } };
    });
  } catch (e) {
    // hide_specific_error_message_for_offline_refill
    if (ctx.hideOfflineRefillErrors) throw validateError('Failed offline token refill');
    throw e;
  }
}
