/**
 * privacyIDEA-compatible machine tokens: pure domain logic (no I/O). The HTTP server
 * mounts MACHINE_ROUTES over a MachineContext; the CLI and tests call the functions.
 */
export * from './types.js';
export { MACHINE_ROUTES, type MachineRoute, type RouteAnswer } from './routes.js';
export { collectParams, paramsOf, parseUrlEncoded, percentDecode, requireParam, type RequestParts } from './params.js';
export {
  ENVELOPE_HEADERS,
  PRIVACYIDEA_COMPAT_VERSION,
  errorEnvelope,
  pythonJsonDumps,
  serializeEnvelope,
  successEnvelope,
  verifyEnvelopeSignature,
  type EnvelopeOptions,
  type EnvelopeResponse,
} from './envelope.js';
export {
  GENERIC_500_MESSAGE,
  actionNotAllowed,
  authError,
  internalError,
  missingParameter,
  parameterError,
  policyError,
  resourceNotFound,
  toPrivacyIdeaError,
  validateError,
  type PrivacyIdeaErrorShape,
} from './errors.js';
export { listMachines, type MachineListItem } from './endpoints/machines.js';
export {
  attachToken,
  detachToken,
  detachTokenById,
  detachTokenByPath,
  listTokenBindings,
  setTokenOptions,
  type BindingListItem,
  type DetachPath,
  type OptionChange,
} from './endpoints/machine-tokens.js';
export { getAuthItems, offlineAuthItemsAfterValidation, type AuthItems } from './endpoints/authitem.js';
export { offlineRefill, type OfflineRefillAnswer } from './endpoints/offline-refill.js';
export {
  CENSORED,
  RESOLVER_TYPES,
  deleteMachineResolver,
  listMachineResolvers,
  resolverConfigValue,
  setMachineResolver,
  testMachineResolver,
  type ResolverDescription,
} from './endpoints/resolvers.js';
export type { MachineTokenItem, TokenMachineItem } from './binding-queries.js';
export { APPLICATIONS, applicationCatalogue, authorizedKeysText, type AuthItem } from './applications/index.js';
export { luksResponse } from './applications/luks.js';
export { splitPinPass } from './applications/offline.js';
export { parseHostsFile } from './resolvers/hosts.js';
export { hostnamesFromMetadata, machineFromAgent } from './resolvers/keylime.js';
export { createMachineDirectory, type MachineDirectoryDeps } from './resolvers/directory.js';
export { parseIp, type IpAddress } from './ip.js';
export { findHotp, hotp, totp, totpCounter } from './otp.js';
export { ab64Decode, ab64Encode, pbkdf2Sha512Hash, pbkdf2Sha512Verify, parsePbkdf2Sha512 } from './passlib.js';
export {
  SECRET_KEY_BYTES,
  formatSecretKeyFile,
  generateSecretKey,
  openSecret,
  parseSecretKeyFile,
  sealSecret,
  type SealedSecret,
} from './secret-box.js';
export { LUKS_SERIAL_PREFIX, SERIAL_PREFIXES, generateSerial } from './serial.js';
export {
  deleteToken,
  enrollToken,
  parseSshPublicKey,
  setTokenActive,
  sshKeyLine,
  tokenView,
  type EnrollType,
  type EnrolledToken,
  type TokenEnrollment,
  type TokenView,
} from './tokens.js';
export { MemoryMachineRepository, emptyMachineStoreData, type MachineStoreData } from './memory-repository.js';
