import type { AttestationEvent } from './events.js';
import { RESPONSE_EVENT, messageEvent } from './events.js';

/** The fields of a `/quotes/integrity` answer the verifier reads (§3.4, §5.1). */
export interface IntegrityResponse {
  quote: string;
  hashAlg: string;
  encAlg: string;
  signAlg: string;
  /** NK PEM; absent on partial=1 answers. */
  pubkey: string | undefined;
  imaMeasurementList: string | undefined;
  imaMeasurementListEntry: number;
  mbMeasurementList: string | undefined;
  boottime: number;
}

function optionalString(results: Record<string, unknown>, key: string): string | undefined {
  const v = results[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new TypeError(`'${key}' is not a string`);
  return v;
}

function optionalInt(results: Record<string, unknown>, key: string): number {
  const v = results[key];
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new TypeError(`'${key}' is not an integer`);
  return n;
}

/** §5.1 step 1: anything malformed is `invalid_data`, irrecoverable. */
export function parseIntegrityResponse(results: Record<string, unknown> | undefined): IntegrityResponse | AttestationEvent {
  try {
    if (!results) throw new TypeError('the answer has no results');
    const quote = optionalString(results, 'quote');
    if (!quote) throw new TypeError("'quote' is missing");
    return {
      quote,
      hashAlg: optionalString(results, 'hash_alg') ?? '',
      encAlg: optionalString(results, 'enc_alg') ?? '',
      signAlg: optionalString(results, 'sign_alg') ?? '',
      pubkey: optionalString(results, 'pubkey'),
      imaMeasurementList: optionalString(results, 'ima_measurement_list'),
      imaMeasurementListEntry: optionalInt(results, 'ima_measurement_list_entry'),
      mbMeasurementList: optionalString(results, 'mb_measurement_list'),
      boottime: optionalInt(results, 'boottime'),
    };
  } catch (e) {
    return messageEvent(RESPONSE_EVENT.invalidData, `Invalid data in the quote response: ${(e as Error).message}`, false);
  }
}

/** Keylime compares encryption algorithms with the pre-2.5 names: rsa ≡ rsa2048, ecc ≡ ecc256. */
export function normalizeEncAlg(alg: string): string {
  if (alg === 'rsa2048') return 'rsa';
  if (alg === 'ecc256') return 'ecc';
  return alg;
}

/** §5.1 step 3: the algorithms must be ones the tenant accepted for this agent. */
export function checkAlgorithms(
  r: IntegrityResponse,
  accept: { hash: readonly string[]; enc: readonly string[]; sign: readonly string[] },
): AttestationEvent | undefined {
  if (!accept.hash.includes(r.hashAlg) || !['sha1', 'sha256', 'sha384', 'sha512'].includes(r.hashAlg)) {
    return messageEvent(RESPONSE_EVENT.invalidHashAlg, `TPM Quote is using an unaccepted hash algorithm: ${r.hashAlg}`, false);
  }
  if (!accept.enc.map(normalizeEncAlg).includes(normalizeEncAlg(r.encAlg))) {
    return messageEvent(RESPONSE_EVENT.invalidEncAlg, `TPM Quote is using an unaccepted encryption algorithm: ${r.encAlg}`, false);
  }
  if (!accept.sign.includes(r.signAlg)) {
    return messageEvent(RESPONSE_EVENT.invalidSignAlg, `TPM Quote is using an unaccepted signing algorithm: ${r.signAlg}`, false);
  }
  return undefined;
}
