import type { HashName } from '../../quote/algorithms.js';
import type { AttestationEvent } from './events.js';
import type { MbPolicyRecord, RuntimePolicyRecord, VerifierAgent } from './record.js';
import type { IntegrityResponse } from './response.js';
import { invalidInput } from '../../errors.js';
import { IMA_PCR, parseTpmPolicy } from '../../quote/tpm-policy.js';

/** The policies an agent was enrolled with. */
export interface EvidenceContext {
  agent: Readonly<VerifierAgent>;
  runtimePolicy: Readonly<RuntimePolicyRecord> | undefined;
  mbPolicy: Readonly<MbPolicyRecord> | undefined;
}

export interface EvidenceInput extends EvidenceContext {
  response: IntegrityResponse;
  /** Quoted PCRs (lowercase hex) of a quote whose signature, nonce and digest verified. */
  pcrs: Readonly<Record<number, string>>;
  hashAlg: HashName;
  /** What this evaluator kept from the previous round (agent.evidence_state[name]). */
  state: unknown;
}

export interface EvidenceOutcome {
  events: AttestationEvent[];
  /** Kept for the next round (persisted with the hot counters). */
  state?: unknown;
}

/**
 * Evidence beyond the tpm_policy PCR values: the IMA log against a runtime policy (PCR 10)
 * and the UEFI event log against a measured-boot policy (PCRs 0-9, 11-15). The verifier
 * runs every evaluator an agent's policies require, after PCR 16 and before the tpm_policy
 * comparison (Keylime's order, §5.2 step 3), and never attests an agent whose policies
 * need an evaluator it does not have (POST answers 400 instead).
 */
export interface EvidenceEvaluator {
  /** 'ima' or 'measured_boot'; also the key of its state in agent.evidence_state. */
  readonly name: string;
  /** PCRs this evaluator validates; the tpm_policy comparison leaves them alone. */
  readonly pcrs: readonly number[];
  required(ctx: EvidenceContext): boolean;
  /** The `ima_ml_entry` to ask for next (IMA's incremental log position). */
  nextImaEntry?(state: unknown): number;
  evaluate(input: EvidenceInput): EvidenceOutcome | Promise<EvidenceOutcome>;
}

/** Whether the agent's runtime (IMA) policy is a real one: Keylime's has_runtime_policy. */
export function hasRuntimePolicy(ctx: EvidenceContext): boolean {
  return (ctx.runtimePolicy?.generator ?? 0) > 1;
}

export function hasMbPolicy(ctx: EvidenceContext): boolean {
  const text = ctx.mbPolicy?.mb_policy;
  return text !== undefined && text !== null && text.trim() !== '' && text.trim() !== 'null';
}

function maskSelectsIma(agent: Readonly<VerifierAgent>): boolean {
  try {
    return parseTpmPolicy(agent.tpm_policy).maskPcrs.includes(IMA_PCR);
  } catch {
    return false;
  }
}

/** The kinds of evidence an agent needs checked beyond PCR values. */
export function requiredEvidence(ctx: EvidenceContext): { ima: boolean; measuredBoot: boolean } {
  return { ima: hasRuntimePolicy(ctx) || maskSelectsIma(ctx.agent), measuredBoot: hasMbPolicy(ctx) };
}

/** Refuses policies this verifier cannot evaluate: never attest as if an unchecked policy passed. */
export function admitEvidence(ctx: EvidenceContext, evaluators: readonly EvidenceEvaluator[]): void {
  const need = requiredEvidence(ctx);
  if (need.ima && !evaluators.some((e) => e.name === 'ima')) {
    throw invalidInput('This verifier cannot evaluate runtime (IMA) policies yet: enroll the agent without a runtime policy and without PCR 10 in the mask');
  }
  if (need.measuredBoot && !evaluators.some((e) => e.name === 'measured_boot')) {
    throw invalidInput('This verifier cannot evaluate measured boot policies yet: enroll the agent without a measured boot policy');
  }
}
