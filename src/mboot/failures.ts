/**
 * A measured-boot failure event as Keylime reports it (keylime-ima-mb.md §3.3): the id
 * (`measured_boot.invalid_pcr_4`, `measured_boot.policy_example`, ...) and its context.
 * The verifier wraps these into its Failure with severity labels.
 */
export interface MbFailureEvent {
  id: string;
  context: Record<string, unknown>;
  recoverable: boolean;
}

export const MbEventIds = {
  parserError: 'measured_boot.parser.tpm2_eventlog.error',
  invalidPcrsHashes: 'measured_boot.parser.invalid_pcrs_hashes',
  missingPcrs: 'measured_boot.missing_pcrs',
  invalidPcr: (pcr: number) => `measured_boot.invalid_pcr_${pcr}`,
  unusedPcr: (pcr: number) => `pcr_validation.unused_pcr_${pcr}`,
  invalidMbPolicy: 'pcr_validation.invalid_mb_policy',
  policy: (name: string) => `measured_boot.policy_${name}`,
} as const;

export function mbFailure(id: string, context: Record<string, unknown>): MbFailureEvent {
  return { id, context, recoverable: true };
}
