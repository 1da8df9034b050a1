/**
 * Keylime's operational states (keylime/common/states.py, spec §7.4). The numbers are on
 * the wire (GET /agents/{id} `operational_state`) and in the store; names are for people.
 */
export const State = {
  REGISTERED: 0,
  START: 1,
  SAVED: 2,
  GET_QUOTE: 3,
  GET_QUOTE_RETRY: 4,
  PROVIDE_V: 5,
  PROVIDE_V_RETRY: 6,
  FAILED: 7,
  TERMINATED: 8,
  INVALID_QUOTE: 9,
  TENANT_FAILED: 10,
} as const;

export type StateNumber = (typeof State)[keyof typeof State];

export const STATE_NAMES: Readonly<Record<StateNumber, string>> = {
  0: 'Registered',
  1: 'Start',
  2: 'Saved',
  3: 'Get Quote',
  4: 'Get Quote (retry)',
  5: 'Provide V',
  6: 'Provide V (retry)',
  7: 'Failed',
  8: 'Terminated',
  9: 'Invalid Quote',
  10: 'Tenant Quote Failed',
};

export function stateName(state: number): string {
  return STATE_NAMES[state as StateNumber] ?? `Unknown (${state})`;
}

/** States whose agents resume polling on reactivate and on verifier restart. */
export const APPROVED_REACTIVATE_STATES: ReadonlySet<number> = new Set([State.START, State.GET_QUOTE, State.GET_QUOTE_RETRY, State.PROVIDE_V, State.PROVIDE_V_RETRY]);

/** DELETE removes these at once (nothing is polling them). */
export const DELETE_NOW_STATES: ReadonlySet<number> = new Set([State.SAVED, State.FAILED, State.TENANT_FAILED, State.INVALID_QUOTE]);

/** Pull-mode attestation_status of §7.3. */
export function attestationStatus(state: number): 'PASS' | 'FAIL' | 'PENDING' {
  if (state === State.GET_QUOTE || state === State.GET_QUOTE_RETRY || state === State.PROVIDE_V || state === State.PROVIDE_V_RETRY) return 'PASS';
  if (state === State.FAILED || state === State.INVALID_QUOTE || state === State.TENANT_FAILED) return 'FAIL';
  return 'PENDING';
}
