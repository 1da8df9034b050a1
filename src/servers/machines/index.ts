/**
 * The privacyIDEA-compatible machine API served by the verifier. The verifier mounts it
 * with one call:
 *
 *   registerMachineApi(app, { dataDir, agents: { list, get }, attestation, log });
 */
export { registerMachineApi, SERVED_ROUTES, MACHINE_API_PREFIXES, type ServedRoute } from './plugin.js';
export type { AgentAttestation, MachineAgentInfo, MachineAgentSource, MachineApiDeps } from './deps.js';
export { MachineStore, openMachineStore, MACHINE_KEY_FILE, MACHINE_STORE_FILE, KEYLIME_RESOLVER_NAME } from './store.js';
export { identifyCaller, looksLikeAgentId, type Caller } from './caller.js';
export { agentAttestation, type AttestedAgentFields } from './attestation.js';
