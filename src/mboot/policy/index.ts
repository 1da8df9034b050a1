import { KeylimeError } from '../../errors.js';
import type { EventLog } from '../types.js';
import { EXAMPLE_RELEVANT_PCRS, evaluateExamplePolicy } from './example.js';

/**
 * A measured-boot policy engine, chosen globally by name as Keylime's
 * `[verifier] measured_boot_policy_name`; the per-agent `mb_policy` is its refstate.
 */
export interface MbPolicy {
  name: string;
  /** PCRs the policy depends on; null means no restriction (every measured-boot PCR is compared). */
  relevantPcrs: ReadonlySet<number> | null;
  /** '' if the boot is acceptable, otherwise the first reason it is not. */
  evaluate(log: EventLog, refstate: unknown): string;
}

const policies: Record<string, MbPolicy> = {
  'accept-all': { name: 'accept-all', relevantPcrs: null, evaluate: () => '' },
  'reject-all': { name: 'reject-all', relevantPcrs: null, evaluate: () => 'the reject-all policy rejects every boot' },
  example: { name: 'example', relevantPcrs: EXAMPLE_RELEVANT_PCRS, evaluate: (log, ref) => evaluateExamplePolicy(log, ref) },
  'example-relaxed': {
    name: 'example-relaxed',
    relevantPcrs: EXAMPLE_RELEVANT_PCRS,
    evaluate: (log, ref) => evaluateExamplePolicy(log, ref, { relaxed: true }),
  },
};

export const MB_POLICY_NAMES = Object.keys(policies);

export function mbPolicy(name: string): MbPolicy {
  const p = policies[name];
  if (!p) throw new KeylimeError('invalid_input', `unknown measured boot policy ${JSON.stringify(name)}; known: ${MB_POLICY_NAMES.join(', ')}`);
  return p;
}
