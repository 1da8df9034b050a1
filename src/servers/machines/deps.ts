/**
 * What the machine API needs from the server that mounts it (the verifier): its agents,
 * and whether each one currently passes attestation.
 */
import type { Awaitable } from '../../machines/index.js';
import type { Logger } from '../../log.js';

/**
 * One verifier agent. The verifier's stored agent record fits as it is: `meta_data` is
 * Keylime's metadata JSON string, `mtls_cert` the agent's pinned certificate.
 */
export interface MachineAgentInfo {
  agent_id: string;
  ip?: string | null;
  port?: number;
  /** Hostname from the agent's registration, when known. */
  hostname?: string | null;
  /** Keylime's metadata (JSON string or object); `hostname` / `hostnames` keys name the machine. */
  meta_data?: unknown;
  metadata?: unknown;
  /** The agent's own mTLS certificate (PEM), pinned at registration: it identifies the machine too. */
  mtls_cert?: string | null;
}

export interface MachineAgentSource {
  list(): readonly MachineAgentInfo[];
  get(agentId: string): MachineAgentInfo | undefined;
}

/**
 * The verifier's verdict on one agent: ok while it is in Get Quote / Provide V (or their
 * retries) with attestation_count > 0 and no failure; otherwise the failure's event id
 * (e.g. `pcr_validation.invalid_pcr_16`) and the state by name.
 */
export type AgentAttestation = { ok: true } | { ok: false; eventId: string; state: string };

export interface MachineApiDeps {
  /** The verifier's data directory: machines.json and machines.key live there. */
  dataDir: string;
  agents: MachineAgentSource;
  attestation(agentId: string): Awaitable<AgentAttestation>;
  log?: Logger;
  /**
   * Common names of administrator certificates. Default: any certificate from the CA
   * whose CN is neither a known agent id nor shaped like one (UUID, 64 hex digits).
   */
  adminNames?: readonly string[];
  /** Injected in tests. */
  now?: () => number;
  randomBytes?: (size: number) => Buffer;
}
