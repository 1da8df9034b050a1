import { isKeylimeError, ParseError } from '../errors.js';
import { compareReplayWithQuote, measuredBootPcrsToCheck, quotedMap } from './compare.js';
import { mbFailure, MbEventIds, type MbFailureEvent } from './failures.js';
import { parseEventLog } from './parser.js';
import { mbPolicy } from './policy/index.js';
import { pythonTruthy } from './policy/refstate.js';
import { bootAggregates, replayEventLog, type PcrReplay } from './replay.js';
import type { EventLog } from './types.js';

export interface MeasuredBootInput {
  /** The agent's `mb_measurement_list`: base64 as on the wire, or the raw bytes. Absent: no log sent. */
  eventLog?: string | Buffer | null;
  /**
   * The quote's PCR values: index → hex. null (offline policy tests only) skips the PCR
   * comparison and the missing-PCR rule; the verifier always passes the quote's values.
   */
  quotedPcrs: ReadonlyMap<number, string> | Record<number | string, string> | null;
  /** The quote's bank (`hash_alg`), e.g. `sha256`. */
  hashAlg: string;
  /** The agent's `mb_policy` (refstate): a JSON string or parsed JSON. null, "" or {} means none. */
  mbPolicy?: unknown;
  /** Keylime's `measured_boot_policy_name` (default `accept-all`). */
  policyName?: string;
  /** Whether to evaluate the policy this round (`measured_boot_evaluate`: once / always). Default true. */
  evaluate?: boolean;
}

export interface MeasuredBootResult {
  failures: MbFailureEvent[];
  log: EventLog | null;
  replay: PcrReplay | null;
  /** For IMA's boot_aggregate allow-list (keylime-ima-mb.md §1.4): per bank, the 8- and 10-PCR values. */
  bootAggregates: Record<string, string[]>;
  /** The PCRs compared with the replay. */
  checkedPcrs: number[];
  /** The policy ran (and `failures` holds its verdict). */
  evaluated: boolean;
}

/** Strict base64 as Keylime decodes `mb_measurement_list`. */
export function decodeMbMeasurementList(b64: string): Buffer {
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new ParseError('mb_measurement_list is not valid base64');
  }
  return Buffer.from(b64, 'base64');
}

function parseRefstate(policy: unknown): { refstate: unknown; error?: string } {
  if (typeof policy !== 'string') return { refstate: policy };
  if (policy.trim() === '') return { refstate: null };
  try {
    return { refstate: JSON.parse(policy) };
  } catch (e) {
    return { refstate: null, error: (e as Error).message };
  }
}

/**
 * The measured-boot part of the verifier's PCR checks (keylime-protocol.md §5.2 step 3,
 * keylime-ima-mb.md §4.3): parse the log, replay it, compare the MB PCRs the policy cares
 * about with the quote, and evaluate the policy. Returns Keylime's failure events; never
 * throws for bad input (a malformed log or refstate is a failure event).
 */
export function checkMeasuredBoot(input: MeasuredBootInput): MeasuredBootResult {
  const failures: MbFailureEvent[] = [];
  const result: MeasuredBootResult = { failures, log: null, replay: null, bootAggregates: {}, checkedPcrs: [], evaluated: false };
  const quoted = input.quotedPcrs === null ? null : quotedMap(input.quotedPcrs);
  const policy = mbPolicy(input.policyName ?? 'accept-all');

  const { refstate, error } = parseRefstate(input.mbPolicy);
  if (error !== undefined) {
    failures.push(mbFailure(MbEventIds.invalidMbPolicy, { message: `mb_policy is not valid JSON: ${error}` }));
    return result;
  }
  const hasPolicy = pythonTruthy(refstate);

  const hasLog = input.eventLog !== undefined && input.eventLog !== null && input.eventLog.length > 0;
  if (hasLog) {
    try {
      const bytes = typeof input.eventLog === 'string' ? decodeMbMeasurementList(input.eventLog) : input.eventLog!;
      result.log = parseEventLog(bytes);
      result.replay = replayEventLog(result.log);
      result.bootAggregates = bootAggregates(result.replay) as Record<string, string[]>;
    } catch (e) {
      if (!isKeylimeError(e)) throw e;
      failures.push(mbFailure(MbEventIds.parserError, {
        context: 'The measured boot event log could not be parsed',
        code: 1,
        data: e.message,
        ...(e instanceof ParseError && e.offset !== undefined ? { offset: e.offset } : {}),
      }));
      return result;
    }
  }
  if (!hasPolicy) return result;

  if (quoted) {
    const pcrs = measuredBootPcrsToCheck(quoted.keys(), policy.relevantPcrs);
    result.checkedPcrs = pcrs;
    if (!result.replay) {
      for (const pcr of pcrs) {
        failures.push(mbFailure(MbEventIds.unusedPcr(pcr), { message: `PCR ${pcr} is quoted for measured boot but the agent sent no event log` }));
      }
      return result;
    }
    failures.push(...compareReplayWithQuote(result.replay, input.hashAlg, quoted, pcrs));
    const missing = policy.relevantPcrs ? [...policy.relevantPcrs].filter((p) => !quoted.has(p)).sort((a, b) => a - b) : [];
    if (missing.length) {
      failures.push(mbFailure(MbEventIds.missingPcrs, {
        message: `PCRs the ${policy.name} policy needs are missing from the quote; the policy was not evaluated`,
        missing,
      }));
      return result;
    }
  }
  if (!result.log) return result;
  if (input.evaluate === false) return result;
  result.evaluated = true;
  const reason = policy.evaluate(result.log, refstate);
  if (reason) {
    failures.push(mbFailure(MbEventIds.policy(policy.name), {
      context: 'Boot attestation failed',
      policy: policy.name,
      refstate: JSON.stringify(refstate),
      reason,
    }));
  }
  return result;
}
