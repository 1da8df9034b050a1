/**
 * The verifier POST body a tenant sends (keylime-protocol.md §7.2) with no policy beyond
 * PCR 16 and no V, for tests and benchmarks that enroll agents at the verifier directly.
 */
export function directEnrollmentBody(port: number, mtlsCert: string, akTpm: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cloudagent_ip: '127.0.0.1',
    cloudagent_port: port,
    tpm_policy: '{"mask": "0x0"}',
    runtime_policy: '',
    mb_policy: null,
    mb_policy_name: '',
    ima_sign_verification_keys: '',
    metadata: '{}',
    revocation_key: '',
    accept_tpm_hash_algs: ['sha256'],
    accept_tpm_encryption_algs: ['rsa'],
    accept_tpm_signing_algs: ['rsassa'],
    ak_tpm: akTpm,
    mtls_cert: mtlsCert,
    supported_version: '2.2',
    ...extra,
  };
}
