export {
  startAgent,
  DEFAULT_AGENT_PORT,
  DEFAULT_EVENT_LOG,
  DEFAULT_IMA_LOG,
  DEFAULT_REGISTRAR,
  type AgentOptions,
  type BackgroundResult,
  type RunningAgent,
} from './server.js';
export { AGENT_FILES, hashEkId, checkAgentId, type AgentData } from './identity.js';
export { DEFAULT_REGISTRATION_BACKOFF, registrationBody, type RegistrationBackoff } from './registration.js';
export { decryptPayload, deliverPayload, KEY_FILE, PAYLOAD_FILE, PAYLOAD_SCRIPT, REVOCATION_CERT_FILE, type PayloadOutcome } from './payload.js';
export { readZipEntries, readZipEntryData, looksLikeZip, ZipError, type ZipEntry } from './zip.js';
export { extractZip, unsafeEntryName } from './extract.js';
export { verifyRevocationSignature, type RevocationOutcome } from './revocation.js';
