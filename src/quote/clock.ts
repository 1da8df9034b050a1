import type { ClockInfo } from './attest.js';

/** Keylime's starting point for an agent that has never been quoted (and the tenant's fresh check). */
export const INITIAL_CLOCK: Readonly<ClockInfo> = Object.freeze({ clock: 0, resetCount: 0, restartCount: 0, safe: 1 });

export interface ClockVerdict {
  /** Why the quote's clock is unacceptable, or null. */
  reason: string | null;
  /** The clock state to keep for the next quote: unchanged on failure or when both counters moved. */
  state: ClockInfo;
}

/**
 * Spec §5.2 step 2: counters never go back, the clock must be `safe`, and unless the
 * TPM was both reset and restarted since the last quote its clock must have advanced.
 * After such a double change Keylime keeps the old state (it cannot compare clocks).
 */
export function checkClock(previous: ClockInfo, current: ClockInfo): ClockVerdict {
  const resetDiff = current.resetCount - previous.resetCount;
  const restartDiff = current.restartCount - previous.restartCount;
  if (resetDiff < 0) return { reason: 'resetCount value decreased on TPM between two consecutive quotes', state: previous };
  if (restartDiff < 0) return { reason: 'restartCount value decreased on TPM between two consecutive quotes', state: previous };
  if (current.safe !== 1) return { reason: 'clock safe flag is disabled', state: previous };
  if (resetDiff !== 0 && restartDiff !== 0) return { reason: null, state: previous };
  if (current.clock <= previous.clock) {
    return { reason: 'clock timestamp issued by TPM did not increase between two consecutive quotes', state: previous };
  }
  return {
    reason: null,
    state: { clock: current.clock, resetCount: current.resetCount, restartCount: current.restartCount, safe: current.safe },
  };
}
