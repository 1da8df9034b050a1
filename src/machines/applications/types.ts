import type { MachineContext, OptionMap, ParamValue, TokenRecord } from '../types.js';

/** One computed authentication item; binding options are overlaid on it afterwards. */
export type AuthItem = Record<string, unknown>;

export interface AuthItemRequest {
  token: TokenRecord;
  /** The request's `challenge`, untouched: luks reads it as hex, offline as PIN+OTP. */
  challenge: ParamValue | undefined;
  options: OptionMap;
  /** The request parameters other than challenge, hostname and application. */
  filterParam: ReadonlyMap<string, ParamValue>;
  userAgent?: string;
}

/**
 * An application computes an item from a binding. `{}` means "nothing for this token"
 * and is dropped; `base` answers the string "nothing", which privacyIDEA then fails on.
 */
export interface MachineApplication {
  readonly name: string;
  computeItem(ctx: MachineContext, request: AuthItemRequest): Promise<AuthItem | string>;
}
