import {
  beginImaRound,
  compileRuntimePolicy,
  initialImaState,
  parseRuntimePolicy,
  parseVerificationKeys,
  replayImaLog,
  resetImaState,
  type CompiledRuntimePolicy,
  type ImaAttestationState,
  type ImaKeyring,
} from '../../ima/index.js';
import { checkMeasuredBoot, type MeasuredBootResult } from '../../mboot/index.js';
import { IMA_PCR } from '../../quote/tpm-policy.js';
import type { AttestationEvent } from './events.js';
import { hasMbPolicy, hasRuntimePolicy, maskSelects, type EvidenceEvaluator, type EvidenceInput, type EvidenceOutcome } from './evidence.js';

/** Compiling a runtime policy (regexes, key parsing) is costly: keep a few, keyed by text. */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly size: number) {}
  get(key: string, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = make();
    this.map.set(key, value);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
    return value;
  }
}

const toEvent = (e: { id: string; context: Record<string, unknown>; recoverable: boolean }): AttestationEvent => ({
  eventId: e.id,
  recoverable: e.recoverable,
  context: e.context,
});

/** Measured-boot parse results shared with the IMA evaluator within one round (boot_aggregate). */
const MB_RESULT = Symbol('measured boot result');
type Scratch = { [MB_RESULT]?: MeasuredBootResult };

function mbResultFor(input: EvidenceInput, run: () => MeasuredBootResult): MeasuredBootResult {
  const scratch = input.scratch as Scratch;
  return (scratch[MB_RESULT] ??= run());
}

export interface MeasuredBootOptions {
  /** Keylime `measured_boot_policy_name` (default accept-all). */
  policyName?: string;
  /** Keylime `measured_boot_evaluate`: once (first attestation only, default) or always. */
  evaluate?: 'once' | 'always';
}

/**
 * Run before imaEvaluator (it shares the parsed log through the round's scratch space).
 * The UEFI event log against the agent's measured-boot policy (refstate): parse, replay,
 * compare PCRs 0-9/11-15 with the quote, evaluate the policy engine (§5.2 3d).
 */
export function measuredBootEvaluator(options: MeasuredBootOptions = {}): EvidenceEvaluator {
  const policyName = options.policyName ?? 'accept-all';
  return {
    name: 'measured_boot',
    // Listed MB PCRs are still compared with the tpm_policy too, as Keylime does.
    pcrs: [],
    required: hasMbPolicy,
    evaluate(input): EvidenceOutcome {
      const result = mbResultFor(input, () =>
        checkMeasuredBoot({
          eventLog: input.response.mbMeasurementList ?? null,
          quotedPcrs: input.pcrs,
          hashAlg: input.hashAlg,
          mbPolicy: input.mbPolicy?.mb_policy ?? null,
          policyName,
          evaluate: options.evaluate === 'always' || input.agent.attestation_count === 0,
        }),
      );
      return { events: result.failures.map(toEvent) };
    },
  };
}

export interface ImaOptions {
  /** Keylime `ignore_tomtou_errors` (sic: true reports ToMToU entries as failures). */
  reportTomtou?: boolean;
}

/**
 * The IMA measurement list against the agent's runtime policy (§5.1 step 4, §5.3): the
 * incremental position and boottime checks, PCR 10 replay from the saved state, and the
 * per-file policy checks; the state for the next round goes back into evidence_state.
 */
export function imaEvaluator(options: ImaOptions = {}): EvidenceEvaluator {
  const compiled = new BoundedCache<CompiledRuntimePolicy>(32);
  const keyrings = new BoundedCache<ImaKeyring | null>(32);
  return {
    name: 'ima',
    pcrs: [IMA_PCR],
    required: (ctx) => hasRuntimePolicy(ctx) || maskSelects(ctx.agent, IMA_PCR),
    nextImaEntry: (state) => (state as ImaAttestationState | undefined)?.nextEntry ?? 0,
    evaluate(input): EvidenceOutcome {
      const state = (input.state as ImaAttestationState | undefined) ?? initialImaState();
      const quotedPcr10 = input.pcrs[IMA_PCR];
      if (quotedPcr10 === undefined) return { events: [], state };
      const list = input.response.imaMeasurementList;
      if (list === undefined) {
        return {
          events: [{ eventId: 'pcr_validation.unused_pcr_10', recoverable: true, context: { message: 'PCR 10 is in the quote but the agent sent no IMA measurement list' } }],
          state: resetImaState(state),
        };
      }
      const start = beginImaRound(state, { entry: input.response.imaMeasurementListEntry, boottime: input.response.boottime });
      if (start.failures.length) return { events: start.failures.map(toEvent), state: resetImaState(start.state) };
      if (start.skip) return { events: [], state: start.state };

      const text = input.runtimePolicy?.runtime_policy;
      const policy = text ? compiled.get(text, () => compileRuntimePolicy(parseRuntimePolicy(text))) : undefined;
      const tenantKeys = input.agent.ima_sign_verification_keys;
      const tenantKeyring = tenantKeys ? keyrings.get(tenantKeys, () => parseVerificationKeys(tenantKeys)) : undefined;
      // boot_aggregate may be any aggregate of the event log: reuse the measured-boot evaluator's parse (it runs first) or parse here.
      const log = input.response.mbMeasurementList
        ? ((input.scratch as Scratch)[MB_RESULT] ?? checkMeasuredBoot({ eventLog: input.response.mbMeasurementList, quotedPcrs: null, hashAlg: input.hashAlg, mbPolicy: null }))
        : undefined;
      const replay = replayImaLog(list, {
        bank: input.hashAlg,
        quotedPcr10,
        policy,
        state: start.state,
        bootAggregates: log && Object.keys(log.bootAggregates).length ? log.bootAggregates : null,
        ...(tenantKeyring !== undefined ? { tenantKeyring } : {}),
        reportTomtou: options.reportTomtou ?? false,
      });
      return { events: replay.failures.map(toEvent), state: replay.newState };
    },
  };
}
