import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, hashByName, type HashName } from './algorithms.js';
import { encodeAttest, selectOf, type ClockInfo } from './attest.js';
import { encodePcrsBlob } from './pcrs-blob.js';
import { AK_ATTRIBUTES, encodePublicArea, encodeTpm2bPublic, objectName, publicAreaFromKey, type PublicArea } from './public.js';
import { formatQuoteString, type QuoteParts } from './quote-string.js';
import { encodeSignature, signLikeTpm } from './signature.js';

/**
 * Quotes made without a TPM, byte for byte in the format a TPM and tpm2-tools produce:
 * for benchmarks, tests and load generators that need many agents. Nothing here is
 * evidence of anything; a verifier only trusts AKs a registrar activated.
 */

export type SoftwareScheme = 'rsassa' | 'rsapss' | 'ecdsa';

function defaultScheme(key: KeyObject): SoftwareScheme {
  return key.asymmetricKeyType === 'rsa' ? 'rsassa' : 'ecdsa';
}

/** TPM2B_PUBLIC of an AK with Keylime's template (attributes 0x00050072) around `publicKey`. */
export function softwareAkPublic(publicKey: KeyObject, hashAlg: HashName = 'sha256', scheme: SoftwareScheme = defaultScheme(publicKey)): Buffer {
  return encodeTpm2bPublic(akArea(publicKey, hashAlg, scheme));
}

function akArea(publicKey: KeyObject, hashAlg: HashName, scheme: SoftwareScheme): PublicArea {
  const h = hashByName(hashAlg)!;
  const schemeAlg = scheme === 'rsassa' ? TPM_ALG.RSASSA : scheme === 'rsapss' ? TPM_ALG.RSAPSS : TPM_ALG.ECDSA;
  return publicAreaFromKey(publicKey, { nameAlg: h.id, objectAttributes: AK_ATTRIBUTES, scheme: { alg: schemeAlg, hashAlg: h.id } });
}

export interface SoftwareQuoteInput {
  /** The AK's private key (RSA or ECC). */
  privateKey: KeyObject;
  scheme?: SoftwareScheme;
  /** PCR bank and signature hash (Keylime requires them to be equal). */
  hashAlg: HashName;
  /** Put in extraData: a string is taken as its UTF-8 bytes, as agents do with Keylime's nonce. */
  nonce: string | Buffer;
  /** Quoted PCR values by index (0-23). */
  pcrs: ReadonlyMap<number, Buffer> | Record<number, Buffer>;
  clock?: ClockInfo;
  firmwareVersion?: bigint;
  /** Default: the name of the AK under Keylime's template. */
  qualifiedSigner?: Buffer;
}

export interface SoftwareQuote extends QuoteParts {
  /** The Keylime quote string. */
  quote: string;
}

export function signSoftwareQuote(input: SoftwareQuoteInput): SoftwareQuote {
  const h = hashByName(input.hashAlg);
  if (!h) throw new RangeError(`unsupported hash ${input.hashAlg}`);
  const scheme = input.scheme ?? defaultScheme(input.privateKey);
  const entries = (input.pcrs instanceof Map ? [...input.pcrs.entries()] : Object.entries(input.pcrs).map(([k, v]) => [Number(k), v]))
    .map(([k, v]) => [k, v] as [number, Buffer])
    .sort((a, b) => a[0] - b[0]);
  const pcrDigest = hash(h.name, Buffer.concat(entries.map((e) => e[1])), 'buffer');
  const qualifiedSigner =
    input.qualifiedSigner ?? objectName(h.id, encodePublicArea(akArea(createPublicKey(input.privateKey), input.hashAlg, scheme)));
  const attest = encodeAttest({
    magic: TPM_GENERATED_VALUE,
    type: TPM_ST_ATTEST_QUOTE,
    qualifiedSigner,
    extraData: typeof input.nonce === 'string' ? Buffer.from(input.nonce, 'utf8') : input.nonce,
    clockInfo: input.clock ?? { clock: 1000, resetCount: 0, restartCount: 0, safe: 1 },
    firmwareVersion: input.firmwareVersion ?? 0x2019102300163636n,
    attested: { kind: 'quote', pcrSelections: [{ hashAlg: h.id, select: selectOf(entries.map((e) => e[0])) }], pcrDigest },
  });
  const signature = encodeSignature(signLikeTpm(input.privateKey, scheme, h.id, attest));
  const pcrs = encodePcrsBlob(h.id, new Map(entries));
  return { attest, signature, pcrs, quote: formatQuoteString({ attest, signature, pcrs }) };
}
