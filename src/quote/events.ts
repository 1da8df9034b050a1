import { pyJsonDumps } from './pyjson.js';

/**
 * One attestation failure event, as Keylime's `Failure.add_event` records it: the full
 * event id (`<component>.<event>`), whether polling may go on, and a JSON context.
 */
export interface AttestationEvent {
  eventId: string;
  recoverable: boolean;
  context: Record<string, unknown>;
}

/** Keylime's component names; `qoute_validation` keeps its upstream typo on purpose. */
export const COMPONENT = {
  quoteValidation: 'qoute_validation',
  pcrValidation: 'pcr_validation',
} as const;

export const EVENT_QUOTE_VALIDATION = `${COMPONENT.quoteValidation}.quote_validation`;
export const EVENT_MISSING_PCR_16 = `${COMPONENT.pcrValidation}.missing_pcr_16`;
export const EVENT_INVALID_PCR_16 = `${COMPONENT.pcrValidation}.invalid_pcr_16`;
export const EVENT_MISSING_PCRS = `${COMPONENT.pcrValidation}.missing_pcrs`;

export function invalidPcrEventId(pcr: number): string {
  return `${COMPONENT.pcrValidation}.invalid_pcr_${pcr}`;
}

/** A quote whose signature, nonce or PCR digest does not hold (irrecoverable). */
export function quoteValidationFailure(error: string): AttestationEvent {
  return { eventId: EVENT_QUOTE_VALIDATION, recoverable: false, context: { message: 'Quote data validation', error } };
}

/** A TPM clock that went backwards or is not safe (irrecoverable, same event id as Keylime). */
export function clockFailure(reason: string): AttestationEvent {
  return {
    eventId: EVENT_QUOTE_VALIDATION,
    recoverable: false,
    context: { message: 'Validation of clockinfo from quote using tpm2-tools', data: reason },
  };
}

/** The context as Keylime stores it: the Python `json.dumps` text. */
export function eventContextJson(event: AttestationEvent): string {
  return pyJsonDumps(event.context);
}

/** One plain sentence for logs and stderr. */
export function describeEvent(event: AttestationEvent): string {
  const c = event.context;
  if (typeof c.error === 'string') return c.error;
  if (typeof c.data === 'string') return `TPM clock check failed: ${c.data}`;
  if (event.eventId === EVENT_INVALID_PCR_16) {
    return `PCR 16 does not bind the agent's public key (got ${String(c.got)}, expected ${String(c.expected)})`;
  }
  if (event.eventId === EVENT_MISSING_PCRS && Array.isArray(c.data)) {
    return `PCRs required by the tpm_policy are missing from the quote: ${c.data.join(', ')}`;
  }
  const m = /\.invalid_pcr_(\d+)$/.exec(event.eventId);
  if (m && c.got !== undefined) return `PCR ${m[1]} value ${String(c.got)} is not in the tpm_policy allowlist`;
  if (typeof c.message === 'string') return c.message;
  return event.eventId;
}
