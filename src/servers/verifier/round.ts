import { isKeylimeError } from '../../errors.js';
import type { HashName } from '../../quote/algorithms.js';
import type { ClockInfo } from '../../quote/attest.js';
import { checkDataPcr } from '../../quote/data-pcr.js';
import { quoteValidationFailure } from '../../quote/events.js';
import type { SigningKey } from '../../quote/public.js';
import { DATA_PCR, checkTpmPolicy, type TpmPolicy } from '../../quote/tpm-policy.js';
import { verifyQuote } from '../../quote/verify.js';
import { RESPONSE_EVENT, messageEvent, type AttestationEvent } from './events.js';
import type { EvidenceContext, EvidenceEvaluator } from './evidence.js';
import { checkAlgorithms, parseIntegrityResponse, type IntegrityResponse } from './response.js';

export interface RoundInput {
  evidence: EvidenceContext;
  nonce: string;
  results: Record<string, unknown> | undefined;
  ak: SigningKey;
  tpmPolicy: TpmPolicy;
  /** Evaluators this agent's policies require. */
  evaluators: readonly EvidenceEvaluator[];
}

export interface RoundResult {
  /** Empty when the agent passed. */
  events: AttestationEvent[];
  response?: IntegrityResponse;
  /** The NK the quote was checked against (received or cached). */
  nkPem?: string;
  clock?: ClockInfo;
  evidenceState?: Record<string, unknown>;
}

/**
 * One integrity answer checked end to end (§5.1, §5.2): response fields, algorithms, the
 * quote itself (signature, nonce, digest, clock), then PCR 16, the evidence evaluators and
 * the tpm_policy, in Keylime's order. Pure apart from what evaluators do.
 */
export async function checkIntegrityRound(input: RoundInput): Promise<RoundResult> {
  const { agent } = input.evidence;
  const parsed = parseIntegrityResponse(input.results);
  if ('eventId' in parsed) return { events: [parsed] };
  const response = parsed;

  const nkPem = response.pubkey ?? (agent.public_key || undefined);
  if (!nkPem) {
    return { events: [messageEvent(RESPONSE_EVENT.noPubkey, 'No public key provided by the agent and none cached', false)], response };
  }
  const algEvent = checkAlgorithms(response, {
    hash: agent.accept_tpm_hash_algs,
    enc: agent.accept_tpm_encryption_algs,
    sign: agent.accept_tpm_signing_algs,
  });
  if (algEvent) return { events: [algEvent], response, nkPem };

  let verdict;
  try {
    verdict = verifyQuote({
      quote: response.quote,
      ak: input.ak,
      nonce: input.nonce,
      hashAlg: response.hashAlg,
      lastClock: agent.tpm_clockinfo ?? undefined,
      skipPcrChecks: true,
    });
  } catch (e) {
    if (!isKeylimeError(e)) throw e;
    return { events: [quoteValidationFailure(e.message)], response, nkPem };
  }
  if (!verdict.valid) return { events: verdict.failures, response, nkPem };
  const hashAlg = response.hashAlg as HashName;
  const pcrs = verdict.pcrs;

  const events: AttestationEvent[] = [];
  const dataPcr = checkDataPcr(pcrs, nkPem, hashAlg);
  if (dataPcr) events.push(dataPcr);

  const exclude = new Set<number>([DATA_PCR]);
  const evidenceState: Record<string, unknown> = { ...agent.evidence_state };
  const scratch: Record<string | symbol, unknown> = {};
  for (const evaluator of input.evaluators) {
    const outcome = await evaluator.evaluate({ ...input.evidence, response, pcrs, hashAlg, state: agent.evidence_state[evaluator.name], scratch });
    events.push(...outcome.events);
    if (outcome.state !== undefined) evidenceState[evaluator.name] = outcome.state;
    for (const p of evaluator.pcrs) exclude.add(p);
  }
  events.push(...checkTpmPolicy(pcrs, input.tpmPolicy, { exclude }));
  return { events, response, nkPem, clock: verdict.clock, evidenceState };
}
