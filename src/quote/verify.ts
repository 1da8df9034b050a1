import { hash } from 'node:crypto';
import {
  TPM_ALG,
  TPM_GENERATED_VALUE,
  TPM_ST_ATTEST_QUOTE,
  hashById,
  hex16,
  type HashInfo,
  type HashName,
} from './algorithms.js';
import { decodeAttest, type ClockInfo, type TpmsAttest } from './attest.js';
import { decodeBase64Strict } from './base64.js';
import { INITIAL_CLOCK, checkClock } from './clock.js';
import { checkDataPcr } from './data-pcr.js';
import { clockFailure, quoteValidationFailure, type AttestationEvent } from './events.js';
import { decodePcrsBlob, type PcrsBlob } from './pcrs-blob.js';
import { parseTpm2bPublic, parseTpm2bPublicBase64, type SigningKey } from './public.js';
import { parseQuoteString, type QuoteParts } from './quote-string.js';
import { decodeSignature, signatureMatches, type TpmtSignature } from './signature.js';
import { DATA_PCR, checkTpmPolicy, parseTpmPolicy, type TpmPolicy } from './tpm-policy.js';

/** The AK: Keylime's base64 `aik_tpm`/`ak_tpm`, its raw TPM2B_PUBLIC bytes, or a key parsed once and cached. */
export type AkInput = string | Buffer | SigningKey;

export interface VerifyQuoteOptions {
  /** The agent's `quote` string, or its three decoded parts. */
  quote: string | QuoteParts;
  ak: AkInput;
  /** The nonce the verifier/tenant sent; must equal TPMS_ATTEST.extraData. */
  nonce: string;
  /** The response's declared `hash_alg`; must equal the signature's hash. */
  hashAlg: string;
  /** The agent's public key PEM, exactly as returned (or cached): enables the PCR 16 check. */
  dataPubkeyPem?: string;
  /** The agent's tpm_policy (parsed, or the wire string): enables the allowlist checks. */
  tpmPolicy?: TpmPolicy | string;
  /** Clock state after the last accepted quote (default: Keylime's initial state). */
  lastClock?: ClockInfo;
  /** `/verify/identity` skips the clock check. */
  skipClockCheck?: boolean;
  /** `/verify/identity` skips PCR 16 and the tpm_policy; so does a caller that runs them itself in Keylime's event order. */
  skipPcrChecks?: boolean;
  /** Quoted PCRs the caller checks itself (e.g. measured-boot PCRs): left out of the tpm_policy comparison. */
  pcrsCheckedElsewhere?: Iterable<number>;
}

export interface QuoteVerdict {
  valid: boolean;
  /** Keylime failure events, in Keylime's order; empty when valid. */
  failures: AttestationEvent[];
  /** Quoted PCRs as lowercase hex (empty when the quote itself did not verify). */
  pcrs: Record<number, string>;
  /** Clock state to keep for the next quote (the previous one when the quote failed). */
  clock: ClockInfo;
  attest: TpmsAttest;
  signature: TpmtSignature;
  /** The quote's hash, when it is one Keylime knows. */
  hashAlg: HashName | undefined;
}

/** Parses the AK once; hand the result to verifyQuote on every poll. */
export function resolveAk(ak: AkInput): SigningKey {
  if (typeof ak === 'string') return parseTpm2bPublicBase64(ak);
  if (Buffer.isBuffer(ak)) return parseTpm2bPublic(ak);
  return ak;
}

class QuoteInvalid extends Error {}

function fail(reason: string): never {
  throw new QuoteInvalid(reason);
}

function nonceMatches(extraData: Buffer, nonce: string): boolean {
  if (extraData.equals(Buffer.from(nonce, 'utf8'))) return true;
  // Push-mode agents put the base64-decoded nonce in extraData.
  try {
    return nonce.length > 0 && extraData.equals(decodeBase64Strict(nonce, 'nonce'));
  } catch {
    return false;
  }
}

function popcount(bits: number): number {
  let n = 0;
  for (let b = bits; b !== 0; b &= b - 1) n++;
  return n;
}

/** Bits of a pcrSelect bitmap, or -1 when it selects PCRs beyond 23 (which the pcrs file cannot carry). */
function selectBits(select: Buffer): number {
  for (let i = 3; i < select.length; i++) if (select[i] !== 0) return -1;
  return (select[0] ?? 0) | ((select[1] ?? 0) << 8) | ((select[2] ?? 0) << 16);
}

/** Spec §5.2 1f: the pcrs file must be the attested selection, one bank, and hash to pcrDigest. */
function pcrsFromBlob(attest: TpmsAttest, blob: PcrsBlob, h: HashInfo): Record<number, string> {
  if (attest.attested.kind !== 'quote') return fail('TPMS_ATTEST does not hold a quote');
  const sels = attest.attested.pcrSelections;
  if (sels.length !== 1 || sels[0]!.hashAlg !== h.id) {
    return fail(`the quote must select exactly one PCR bank, ${h.name} (the signature hash)`);
  }
  const bits = selectBits(sels[0]!.select);
  if (bits < 0) return fail('the quote selects PCRs beyond 23');
  const slot = blob.slots[0]!;
  if (blob.selectionCount !== 1 || slot.hashAlg !== h.id || slot.sizeofSelect !== 3 || blob.slots.some((s, i) => i > 0 && s.sizeofSelect !== 0)) {
    return fail(`the pcrs data must select exactly one PCR bank, ${h.name}`);
  }
  if (slot.bits !== bits) return fail('the PCR selection in the pcrs data differs from the attested selection');
  const n = popcount(bits);
  if (blob.values.length !== n) return fail(`the pcrs data holds ${blob.values.length} PCR values for ${n} selected PCRs`);
  for (const v of blob.values) {
    if (v.length !== h.size) return fail(`a PCR value is ${v.length} bytes, ${h.name} needs ${h.size}`);
  }
  const digest = hash(h.name, n === 1 ? blob.values[0]! : Buffer.concat(blob.values, n * h.size), 'buffer');
  if (!digest.equals(attest.attested.pcrDigest)) {
    return fail('The digest used for quoting is different than the one that was calculated');
  }
  const pcrs: Record<number, string> = {};
  let idx = 0;
  for (let pcr = 0; pcr < 24; pcr++) if (bits & (1 << pcr)) pcrs[pcr] = blob.values[idx++]!.toString('hex');
  return pcrs;
}

/** Spec §5.2 step 1 (b-f): signature scheme and hash, signature, magic and type, nonce, PCR digest. */
function checkQuoteData(ak: SigningKey, parts: QuoteParts, attest: TpmsAttest, sig: TpmtSignature, blob: PcrsBlob, opts: VerifyQuoteOptions) {
  if (sig.kind === 'null') fail('the quote is not signed (TPM_ALG_NULL signature)');
  if (ak.kind === 'rsa' && sig.sigAlg !== TPM_ALG.RSASSA) fail(`Unsupported quote signature algorithm '${hex16(sig.sigAlg)}' for RSA keys`);
  if (ak.kind === 'ecc' && sig.sigAlg !== TPM_ALG.ECDSA) fail(`Unsupported quote signature algorithm '${hex16(sig.sigAlg)}' for EC keys`);
  const h = hashById(sig.hashAlg);
  if (!h) return fail(`Unsupported hash with id ${hex16(sig.hashAlg)} in signature blob`);
  if (h.name !== opts.hashAlg) fail(`Quote was expected to use ${opts.hashAlg} but used ${h.name} instead`);
  if (!signatureMatches(ak, sig, parts.attest)) fail('Invalid quote signature');
  if (attest.magic !== TPM_GENERATED_VALUE) {
    fail(`TPMS_ATTEST magic is 0x${attest.magic.toString(16).padStart(8, '0')}, not TPM_GENERATED_VALUE 0xff544347`);
  }
  if (attest.type !== TPM_ST_ATTEST_QUOTE) fail(`TPMS_ATTEST type is ${hex16(attest.type)}, not a quote (0x8018)`);
  if (!nonceMatches(attest.extraData, opts.nonce)) fail('The nonce from the attestation differs from the expected nonce');
  return { h, pcrs: pcrsFromBlob(attest, blob, h) };
}

/**
 * Verifies an agent's quote the way Keylime's `check_quote` does (spec §5.2 steps 1-3,
 * minus IMA and measured boot, which the verifier adds on `pcrs`). Verification failures
 * come back as Keylime events in the verdict; only undecodable input (quote string, AK,
 * tpm_policy) throws, and only ParseError.
 */
export function verifyQuote(opts: VerifyQuoteOptions): QuoteVerdict {
  const parts = typeof opts.quote === 'string' ? parseQuoteString(opts.quote) : opts.quote;
  const attest = decodeAttest(parts.attest);
  const signature = decodeSignature(parts.signature);
  const blob = decodePcrsBlob(parts.pcrs);
  const ak = resolveAk(opts.ak);
  const policy = typeof opts.tpmPolicy === 'string' ? parseTpmPolicy(opts.tpmPolicy) : opts.tpmPolicy;
  const previous = opts.lastClock ?? INITIAL_CLOCK;
  const hashAlg = signature.kind === 'null' ? undefined : hashById(signature.hashAlg)?.name;
  const verdict = (failures: AttestationEvent[], pcrs: Record<number, string>, clock: ClockInfo): QuoteVerdict => ({
    valid: failures.length === 0,
    failures,
    pcrs,
    clock,
    attest,
    signature,
    hashAlg,
  });

  let checked: { h: HashInfo; pcrs: Record<number, string> };
  try {
    checked = checkQuoteData(ak, parts, attest, signature, blob, opts);
  } catch (e) {
    if (e instanceof QuoteInvalid) return verdict([quoteValidationFailure(e.message)], {}, previous);
    throw e;
  }
  const { h, pcrs } = checked;

  let clock: ClockInfo = previous;
  if (!opts.skipClockCheck) {
    const c = checkClock(previous, attest.clockInfo);
    if (c.reason !== null) return verdict([clockFailure(c.reason)], pcrs, previous);
    clock = c.state;
  }
  if (opts.skipPcrChecks) return verdict([], pcrs, clock);

  const failures: AttestationEvent[] = [];
  const exclude = new Set<number>(opts.pcrsCheckedElsewhere ?? []);
  if (opts.dataPubkeyPem !== undefined) {
    const ev = checkDataPcr(pcrs, opts.dataPubkeyPem, h.name);
    if (ev) failures.push(ev);
    exclude.add(DATA_PCR);
  }
  if (policy) failures.push(...checkTpmPolicy(pcrs, policy, { exclude }));
  return verdict(failures, pcrs, clock);
}
