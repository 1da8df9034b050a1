/**
 * IMA runtime attestation (pure: strings and Buffers in, verdicts out).
 * Public API for the verifier, the tenant and `keylime-ts policy runtime ...`.
 */
export { IMA_EVENT, type ImaEvent, type ImaEventId } from './events.js';
export { parseImaLine, isLineError, type ImaEntry, type ImaLineError, type ParsedImaLine, type ImaTemplateName } from './entry.js';
export { templateData, TemplateEncoder } from './template.js';
export { HASH_SIZES, isHashAlg, type HashAlg } from './hash-algs.js';
export {
  replayImaLog,
  beginImaRound,
  initialImaState,
  resetImaState,
  type ImaAttestationState,
  type ImaReplayOptions,
  type ImaReplayResult,
  type ImaRoundStart,
} from './replay.js';
export {
  RUNTIME_POLICY_CURRENT_VERSION,
  RuntimePolicyGenerator,
  emptyRuntimePolicy,
  emptyCompiledPolicy,
  validateRuntimePolicy,
  parseRuntimePolicy,
  compileRuntimePolicy,
  runtimePolicyChecksum,
  type RuntimePolicy,
  type CompiledRuntimePolicy,
  type DigestMap,
} from './policy.js';
export { translatePythonRegex, compilePythonMatch, compileExcludes, PythonRegexError, type PythonRegexErrorKind } from './pyregex.js';
export {
  ImaKeyring,
  keyidV2,
  parseVerificationKeys,
  buildVerificationKeys,
  keyFromBytes,
  subjectKeyIdentifierKeyid,
  type ImaPublicKey,
  type SerializedKeyring,
} from './keys.js';
export type { LearnedKeyrings } from './keyrings.js';
export { verifyImaSignature, parseSignatureHeader, buildImaSignature, type ImaSignatureHeader } from './signature.js';
export { verifyEcdsaPrehashed } from './ecdsa-prehashed.js';
export {
  KEYLIME_PAYLOAD_TYPE,
  dssePae,
  decodeDssePayload,
  extractDssePayload,
  verifyDsseEnvelope,
  signDsseEnvelope,
  dsseKeyid,
  isDsseEnvelope,
  type DsseEnvelope,
  type DsseSignature,
  type DsseVerification,
} from './dsse.js';
export {
  convertLegacyAllowlist,
  convertFlatAllowlist,
  parseExcludeList,
  updateRuntimePolicy,
  pythonTimestamp,
  type ConvertOptions,
  type UpdatePolicyOptions,
} from './convert.js';
export { createRuntimePolicy, testImaList, type CreatePolicyOptions, type CreatedPolicy, type SkippedLine, type TestListOptions } from './tooling.js';
export { canonicalHex, decodeHexPy, pythonBytesRepr } from './hex.js';
