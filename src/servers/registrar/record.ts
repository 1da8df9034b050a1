import type { EkCertStatus } from '../../crypto/ek-cert.js';

/** One agent as the registrar stores it (Keylime registrarmain columns plus the EK check outcome). */
export interface RegistrarAgent {
  agent_id: string;
  /** b64 TPM2B_PUBLIC of the EK. */
  ek_tpm: string;
  /** b64 DER of the EK certificate, or null. */
  ekcert: string | null;
  /** b64 TPM2B_PUBLIC of the AK. */
  aik_tpm: string;
  mtls_cert: string | null;
  ip: string | null;
  port: number | null;
  regcount: number;
  active: boolean;
  /** b64 of the 32-character challenge secret (Keylime's `key` column). Secret: never logged. */
  key: string;
  ek_cert_status: EkCertStatus;
  ek_cert_reason: string | null;
}

export interface RegistrarData {
  agents: Record<string, RegistrarAgent>;
}

/** The fields GET /agents/{id} returns (§2.6), plus the EK certificate check outcome. */
export function publicView(agent: RegistrarAgent) {
  return {
    agent_id: agent.agent_id,
    ek_tpm: agent.ek_tpm,
    ekcert: agent.ekcert,
    aik_tpm: agent.aik_tpm,
    mtls_cert: agent.mtls_cert,
    ip: agent.ip,
    port: agent.port,
    regcount: agent.regcount,
    ek_cert_status: agent.ek_cert_status,
    ek_cert_reason: agent.ek_cert_reason,
  };
}
