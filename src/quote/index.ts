/**
 * Quotes, keys and credentials: pure functions over Keylime's TPM byte formats. The
 * registrar (names, MakeCredential, auth tags), agent (credential blob, auth tag), verifier
 * and tenant (quote verification, tpm_policy) import from here.
 */
export * from './algorithms.js';
export { TpmReader, TpmWriter } from './marshal.js';
export { decodeBase64Strict, isStrictBase64 } from './base64.js';
export * from './public.js';
export * from './ek-template.js';
export * from './attest.js';
export * from './signature.js';
export * from './pcrs-blob.js';
export * from './quote-string.js';
export * from './pyjson.js';
export * from './events.js';
export * from './clock.js';
export * from './tpm-policy.js';
export * from './data-pcr.js';
export * from './verify.js';
export * from './credential.js';
export * from './activation.js';
export * from './synthetic.js';
