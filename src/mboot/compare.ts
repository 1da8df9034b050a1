import { mbFailure, MbEventIds, type MbFailureEvent } from './failures.js';
import type { PcrReplay } from './replay.js';

/** PCRs that measured boot may speak for: 0-9 and 11-15 (10 is IMA's, 16 the data PCR). */
export const MEASURED_BOOT_PCRS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15];

/**
 * Keylime compares the replayed value (an int, 0 if never extended) printed as hex with
 * the quoted hex, both without leading zeros: an unextended PCR equals an all-zero one.
 */
export function stripLeadingZeros(hex: string): string {
  return hex.toLowerCase().replace(/^0x/, '').replace(/^0+/, '');
}

/** {0-9, 11-15} ∩ the policy's relevant PCRs (null: all) ∩ the quoted PCRs, ascending. */
export function measuredBootPcrsToCheck(quoted: Iterable<number>, relevant: ReadonlySet<number> | null): number[] {
  const q = new Set(quoted);
  return MEASURED_BOOT_PCRS.filter((p) => q.has(p) && (relevant === null || relevant.has(p)));
}

export function quotedMap(quoted: ReadonlyMap<number, string> | Record<number | string, string>): Map<number, string> {
  if (quoted instanceof Map) return new Map(quoted);
  return new Map(Object.entries(quoted).map(([k, v]) => [Number(k), v]));
}

/**
 * Replayed values of one bank against the quote, for the given PCRs. A bank the log does
 * not have is `measured_boot.parser.invalid_pcrs_hashes`; each differing PCR is
 * `measured_boot.invalid_pcr_<n>` with the quoted value as `got` and the log's as `expected`.
 */
export function compareReplayWithQuote(
  replay: PcrReplay,
  bank: string,
  quoted: ReadonlyMap<number, string>,
  pcrs: readonly number[],
): MbFailureEvent[] {
  const b = [...replay.banks.values()].find((x) => x.alg === bank);
  if (!b) {
    return [mbFailure(MbEventIds.invalidPcrsHashes, {
      message: `the event log has no ${bank} bank (it has ${[...replay.banks.keys(), ...replay.unsupportedBanks].join(', ') || 'none'})`,
    })];
  }
  const failures: MbFailureEvent[] = [];
  for (const pcr of pcrs) {
    const got = quoted.get(pcr);
    if (got === undefined) continue;
    const expected = b.pcrs.get(pcr)?.toString('hex') ?? '0'.repeat(b.digestSize * 2);
    if (stripLeadingZeros(got) !== stripLeadingZeros(expected)) {
      failures.push(mbFailure(MbEventIds.invalidPcr(pcr), {
        context: 'SHA256 boot event log PCR value does not match',
        got: got.toLowerCase(),
        expected,
      }));
    }
  }
  return failures;
}
