/**
 * Failure events with Keylime's exact ids and context shapes (spec §3.2), so a
 * verifier built on this module reports what a Keylime verifier would. Besides the
 * Keylime context each event carries where it happened (line, entry, path).
 */

export const IMA_EVENT = {
  parserEntry: 'ima.parser.entry',
  imaPcr: 'ima.validation.ima_pcr',
  tomtou: 'ima.validation.tomtou',
  imaHash: 'ima.validation.ima_hash',
  notInAllowlist: 'ima.validation.ima-ng.not_in_allowlist',
  runtimePolicyHash: 'ima.validation.ima-ng.runtime_policy_hash',
  invalidKey: 'ima.invalid_key',
  pcrMismatch: 'ima.pcr_mismatch',
  quoteProgress: 'ima.quote_progress',
  invalidImaEntryNb: 'qoute_validation.invalid_ima_entry_nb',
} as const;

export type ImaEventId = (typeof IMA_EVENT)[keyof typeof IMA_EVENT];

export interface ImaEvent {
  id: ImaEventId;
  /** Keylime's context object (serialise with JSON.stringify for the wire). */
  context: Record<string, unknown>;
  /** false only for events that Keylime raises as irrecoverable. */
  recoverable: boolean;
  /** 0-based index of the line in the list received this round (blank lines count). */
  line?: number;
  /** Absolute entry number in the agent's log: start entry + line. */
  entry?: number;
  /** The file or buffer name the event concerns. */
  path?: string;
}

export interface EventPlace {
  line: number;
  entry: number;
  path?: string;
}

export function imaEvent(id: ImaEventId, context: Record<string, unknown>, place?: EventPlace, recoverable = true): ImaEvent {
  const ev: ImaEvent = { id, context, recoverable };
  if (place) {
    ev.line = place.line;
    ev.entry = place.entry;
    if (place.path !== undefined) ev.path = place.path;
  }
  return ev;
}
