export {
  Tpm,
  toKeylimeQuote,
  DATA_PCR,
  DEFAULT_AK_HANDLE,
  DEFAULT_TCTI,
  type AkKey,
  type AkOptions,
  type DataQuoteRequest,
  type EkInfo,
  type PcrExtension,
  type QuoteRequest,
  type TpmCapability,
  type TpmOptions,
  type TpmQuote,
} from './tpm.js';
export { type EkAlg, type HashAlg, type SignAlg, isHashAlg, hashAlgId, digestSize } from './algorithms.js';
export { AK_ATTRIBUTES, objectName, readPublicHeader, type PublicAreaHeader } from './public-area.js';
export { EK_CERT_NV_INDEX, trimDerCertificate } from './ek-cert.js';
export { checkQuotedPcrs, parsePcrsBlob, parseQuoteAttest, type PcrSelection } from './quote-pcrs.js';
