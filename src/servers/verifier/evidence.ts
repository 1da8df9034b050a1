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
  /** Per-round scratch space shared by the evaluators (e.g. the parsed event log). */
  scratch: Record<string | symbol, unknown>;
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

/** A measured-boot refstate that is there and not empty (Keylime: `{}` means no policy). */
export function hasMbPolicy(ctx: EvidenceContext): boolean {
  const text = ctx.mbPolicy?.mb_policy;
  if (text === undefined || text === null || text.trim() === '') return false;
  try {
    const doc: unknown = JSON.parse(text);
    if (Array.isArray(doc)) return doc.length > 0;
    if (doc !== null && typeof doc === 'object') return Object.keys(doc).length > 0;
    return Boolean(doc);
  } catch {
    // Malformed refstates count as present: the evaluator reports them as invalid_mb_policy.
    return true;
  }
}

export function maskSelects(agent: Readonly<VerifierAgent>, pcr: number): boolean {
  try {
    return parseTpmPolicy(agent.tpm_policy).maskPcrs.includes(pcr);
  } catch {
    return false;
  }
}

/** The kinds of evidence an agent needs checked beyond PCR values. */
export function requiredEvidence(ctx: EvidenceContext): { ima: boolean; measuredBoot: boolean } {
  return { ima: hasRuntimePolicy(ctx) || maskSelects(ctx.agent, IMA_PCR), measuredBoot: hasMbPolicy(ctx) };
}

/** Refuses policies this verifier cannot evaluate: never attest as if an unchecked policy passed. */
export function admitEvidence(ctx: EvidenceContext, evaluators: readonly EvidenceEvaluator[]): void {
  const need = requiredEvidence(ctx);
  if (need.ima && !evaluators.some((e) => e.name === 'ima')) {
    throw invalidInput('This verifier has no runtime (IMA) policy evaluator: enroll the agent without a runtime policy and without PCR 10 in the mask');
  }
  if (need.measuredBoot && !evaluators.some((e) => e.name === 'measured_boot')) {
    throw invalidInput('This verifier has no measured boot policy evaluator: enroll the agent without a measured boot policy');
  }
  // Without these PCRs in the mask the agent sends no list/log and the policy would pass unchecked.
  if (hasRuntimePolicy(ctx) && !maskSelects(ctx.agent, IMA_PCR)) {
    throw invalidInput('A runtime policy needs PCR 10 in the tpm_policy mask (the tenant adds 0x400)');
  }
  if (need.measuredBoot && !maskSelects(ctx.agent, 0)) {
    throw invalidInput('A measured boot policy needs PCRs 0-9 and 11-15 in the tpm_policy mask (the tenant adds 0xfbff); PCR 0 is missing');
  }
}
