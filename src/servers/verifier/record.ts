import { attestationStatus } from './states.js';

/** TPMS_CLOCK_INFO of the last good quote (§5.2 step 2). */
export interface ClockInfo {
  clock: number;
  resetCount: number;
  restartCount: number;
  safe: number;
}

/** One agent as the verifier stores it (Keylime's verifiermain columns we use). */
export interface VerifierAgent {
  agent_id: string;
  /** b64 V, or null when the tenant sends no V (no vkey delivery). Secret. */
  v: string | null;
  ip: string;
  port: number;
  verifier_id: string;
  verifier_ip: string;
  verifier_port: number;
  operational_state: number;
  /** The tpm_policy JSON string as received. */
  tpm_policy: string;
  /** The metadata JSON string as received (returned as meta_data). */
  meta_data: string;
  /** Name of the runtime (IMA) policy in the policy store, or null. */
  runtime_policy_name: string | null;
  /** Name of the measured-boot policy in the policy store, or null. */
  mb_policy_name: string | null;
  ima_sign_verification_keys: string;
  /** PEM private key that signs revocation messages, or "". Secret. */
  revocation_key: string;
  accept_tpm_hash_algs: string[];
  accept_tpm_encryption_algs: string[];
  accept_tpm_signing_algs: string[];
  /** b64 TPM2B_PUBLIC of the AK. */
  ak_tpm: string;
  /** The agent's server certificate, pinned as a trust anchor when connecting. */
  mtls_cert: string;
  /** Agent API version used in every URL to this agent. */
  supported_version: string;
  /** The NK PEM last received in a quote (cached for partial=1 quotes). */
  public_key: string;
  hash_alg: string;
  enc_alg: string;
  sign_alg: string;
  severity_level: number | null;
  last_event_id: string | null;
  attestation_count: number;
  last_received_quote: number;
  last_successful_attestation: number;
  tpm_clockinfo: ClockInfo | null;
  boottime: number;
  /** State kept between rounds by evidence evaluators (IMA replay position, ...), by evaluator name. */
  evidence_state: Record<string, unknown>;
}

export interface RuntimePolicyRecord {
  name: string;
  /** The runtime policy JSON text (decoded from the b64 the tenant sends). */
  runtime_policy: string;
  tpm_policy: string | null;
  /** b64 key that signed the policy, or null. */
  runtime_policy_key: string | null;
  /** meta.generator of the policy; >1 means a real (non-default) policy. */
  generator: number;
}

export interface MbPolicyRecord {
  name: string;
  /** The measured-boot policy JSON text, or null. */
  mb_policy: string | null;
}

export interface AgentsData {
  agents: Record<string, VerifierAgent>;
}

export interface PoliciesData {
  runtime: Record<string, RuntimePolicyRecord>;
  mb: Record<string, MbPolicyRecord>;
}

export interface StatusContext {
  quoteIntervalSeconds: number;
  hasRuntimePolicy: boolean;
  hasMbPolicy: boolean;
}

/** GET /agents/{id} results (§7.3), field for field. */
export function statusView(agent: VerifierAgent, ctx: StatusContext) {
  return {
    operational_state: agent.operational_state,
    v: agent.v,
    ip: agent.ip,
    port: agent.port,
    tpm_policy: agent.tpm_policy,
    meta_data: agent.meta_data,
    has_mb_refstate: ctx.hasMbPolicy ? 1 : 0,
    has_runtime_policy: ctx.hasRuntimePolicy ? 1 : 0,
    accept_tpm_hash_algs: agent.accept_tpm_hash_algs,
    accept_tpm_encryption_algs: agent.accept_tpm_encryption_algs,
    accept_tpm_signing_algs: agent.accept_tpm_signing_algs,
    hash_alg: agent.hash_alg,
    enc_alg: agent.enc_alg,
    sign_alg: agent.sign_alg,
    verifier_id: agent.verifier_id,
    verifier_ip: agent.verifier_ip,
    verifier_port: agent.verifier_port,
    severity_level: agent.severity_level,
    last_event_id: agent.last_event_id,
    attestation_count: agent.attestation_count,
    last_received_quote: agent.last_received_quote,
    last_successful_attestation: agent.last_successful_attestation,
    attestation_status: attestationStatus(agent.operational_state),
    attestation_period: `${Math.trunc(ctx.quoteIntervalSeconds)}s`,
    maximum_attestation_interval: `${Math.trunc(ctx.quoteIntervalSeconds * 5)}s`,
  };
}

export type AgentStatus = ReturnType<typeof statusView>;
