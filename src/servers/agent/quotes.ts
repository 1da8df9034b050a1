/**
 * Identity and integrity quotes (protocol spec §3.4): query checks with the Rust agent's
 * messages, the TPM quote with PCR 16 bound to H(exact NK PEM text), and the response
 * fields Keylime's tenant and verifier read.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KeylimeError, invalidInput } from '../../errors.js';
import type { Logger } from '../../log.js';
import { toKeylimeQuote, type EkAlg, type HashAlg, type SignAlg, type Tpm } from '../../tpm/index.js';
import type { ImaLog } from './ima-log.js';

export const MAX_NONCE_LENGTH = 64;
const IMA_PCR = 10;
const BOOT_PCR = 0;
const ALNUM = /^[A-Za-z0-9]+$/;

/** A query parameter as fastify hands it over: the first value when repeated. */
function queryValue(raw: unknown): string | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  return typeof v === 'string' ? v : undefined;
}

export function parseNonce(raw: unknown, endpoint: 'identity' | 'integrity'): string {
  const nonce = queryValue(raw);
  if (nonce === undefined || nonce === '') throw invalidInput("Missing query parameter 'nonce'");
  if (!ALNUM.test(nonce)) {
    throw invalidInput(
      endpoint === 'identity' ? `Parameters should be strictly alphanumeric: ${nonce}` : `nonce should be strictly alphanumeric: ${nonce}`,
    );
  }
  if (nonce.length > MAX_NONCE_LENGTH) {
    throw invalidInput(`Nonce is too long (max size: ${MAX_NONCE_LENGTH}): ${nonce.length} characters`);
  }
  return nonce;
}

/** `mask`: hex with optional 0x, bit i = PCR i, PCRs 0..23 only. Returns the PCR indices. */
export function parseMask(raw: unknown): number[] {
  const mask = queryValue(raw);
  if (mask === undefined || mask === '') throw invalidInput("Missing query parameter 'mask'");
  if (!ALNUM.test(mask)) throw invalidInput(`mask should be strictly alphanumeric: ${mask}`);
  const digits = mask.startsWith('0x') || mask.startsWith('0X') ? mask.slice(2) : mask;
  if (!/^[0-9A-Fa-f]{1,8}$/.test(digits.replace(/^0+(?=.)/, ''))) {
    throw invalidInput(`mask should be a hex encoded 32-bit integer: ${mask}`);
  }
  const value = parseInt(digits, 16);
  if (value > 0xffffff) {
    // The Rust agent answers 500 here; the request is wrong, so it is a 400 with the reason.
    throw invalidInput(`mask selects PCRs above 23, which a TPM does not have: ${mask}`);
  }
  const pcrs: number[] = [];
  for (let pcr = 0; pcr < 24; pcr++) if (value & (1 << pcr)) pcrs.push(pcr);
  return pcrs;
}

/** `partial`: "1" leaves the NK out of the answer, "0" includes it. */
export function parsePartial(raw: unknown): boolean {
  const partial = queryValue(raw);
  if (partial !== '0' && partial !== '1') throw invalidInput("uri must contain key 'partial' and value '0' or '1'");
  return partial === '1';
}

/** `ima_ml_entry`: a decimal line index; missing or invalid means 0. */
export function parseImaEntry(raw: unknown): number {
  const text = queryValue(raw);
  if (text === undefined || !/^\d{1,15}$/.test(text)) return 0;
  return Number(text);
}

export interface QuoteServiceOptions {
  tpm: Tpm;
  hashAlg: HashAlg;
  encAlg: EkAlg;
  signAlg: SignAlg;
  /** The NK public key PEM, exactly as served in `pubkey`. */
  nkPem: string;
  imaLog?: ImaLog;
  /** Raw TCG2 event log (binary_bios_measurements). */
  eventLogPath?: string;
  log: Logger;
}

export interface IntegrityRequest {
  nonce: string;
  pcrs: number[];
  partial: boolean;
  imaEntry: number;
}

export class QuoteService {
  private readonly dataDigest: Buffer;

  constructor(private readonly opts: QuoteServiceOptions) {
    this.dataDigest = createHash(opts.hashAlg).update(opts.nkPem, 'utf8').digest();
  }

  /** GET /quotes/identity: a quote over PCR 16 alone, with the NK. */
  async identity(nonce: string): Promise<Record<string, unknown>> {
    const quote = await this.quote(nonce, []);
    return { ...this.common(quote), pubkey: this.opts.nkPem };
  }

  /** GET /quotes/integrity: PCRs of the mask plus 16, the IMA slice and the boot log as asked. */
  async integrity(request: IntegrityRequest): Promise<Record<string, unknown>> {
    const bootLogRead = request.pcrs.includes(BOOT_PCR) && this.opts.eventLogPath ? readOptional(this.opts.eventLogPath) : undefined;
    const quote = await this.quote(request.nonce, request.pcrs);
    // Read after the quote: the list then covers at least what PCR 10 attests, and the
    // verifier keeps any surplus lines for the next round.
    const ima = request.pcrs.includes(IMA_PCR) && this.opts.imaLog ? await this.opts.imaLog.slice(request.imaEntry) : undefined;
    const bootLog = await bootLogRead;
    const results: Record<string, unknown> = this.common(quote);
    if (!request.partial) results.pubkey = this.opts.nkPem;
    if (ima) {
      results.ima_measurement_list = ima.list;
      results.ima_measurement_list_entry = ima.entry;
    }
    if (bootLog) results.mb_measurement_list = bootLog.toString('base64');
    return results;
  }

  /**
   * One identity quote at start-up: a bank the TPM does not have or an AK that cannot sign
   * fails here, with the TPM's reason, instead of on the verifier's first poll.
   */
  async selfTest(): Promise<void> {
    try {
      await this.opts.tpm.quoteWithDataPcr({ nonce: 'startup', bank: this.opts.hashAlg, pcrs: [], dataDigest: this.dataDigest });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      throw new KeylimeError('tpm', `the TPM cannot produce a ${this.opts.hashAlg} quote with this AK: ${reason}`, { cause: e });
    }
  }

  private common(quote: string): Record<string, unknown> {
    return { quote, hash_alg: this.opts.hashAlg, enc_alg: this.opts.encAlg, sign_alg: this.opts.signAlg };
  }

  private async quote(nonce: string, pcrs: number[]): Promise<string> {
    try {
      const q = await this.opts.tpm.quoteWithDataPcr({ nonce, bank: this.opts.hashAlg, pcrs, dataDigest: this.dataDigest });
      return toKeylimeQuote(q);
    } catch (e) {
      this.opts.log.error('quote failed', { error: (e as Error).message });
      throw new KeylimeError('tpm', 'Unable to retrieve quote', { status: 500, cause: e });
    }
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch {
    return undefined;
  }
}
