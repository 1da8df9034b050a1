import type { AttestationEvent } from '../../quote/events.js';

export type { AttestationEvent } from '../../quote/events.js';
export { eventContextJson } from '../../quote/events.js';

/**
 * Events the verifier itself raises (spec §5.1, §5.4). Quote, PCR and policy events come
 * from src/quote; IMA and measured-boot events from their evaluators.
 */
export const INTERNAL_EVENT = {
  versionNotSupported: 'internal.verifier.version_not_supported',
  exception: 'internal.verifier.exception',
  noQuote: 'internal.verifier.no_quote',
  noV: 'internal.verifier.no_v',
  notReachable: 'internal.verifier.not_reachable',
  notReachableV: 'internal.verifier.not_reachable_v',
} as const;

/** Pre-checks on the integrity response (§5.1; the `qoute` typo is Keylime's). */
export const RESPONSE_EVENT = {
  invalidData: 'qoute_validation.invalid_data',
  noPubkey: 'qoute_validation.no_pubkey',
  invalidHashAlg: 'qoute_validation.invalid_hash_alg',
  invalidEncAlg: 'qoute_validation.invalid_enc_alg',
  invalidSignAlg: 'qoute_validation.invalid_sign_alg',
} as const;

/** An event with a plain message (Keylime stores it as {"message": ...}). */
export function messageEvent(eventId: string, message: string, recoverable: boolean): AttestationEvent {
  return { eventId, recoverable, context: { message } };
}
