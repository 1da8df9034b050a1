/**
 * tpm2_quote reads the PCR values it writes with -o in a separate TPM command, so a PCR
 * extended in between makes the values disagree with the signed pcrDigest. The driver
 * checks the two agree (with the quote core's decoders) and retries instead of handing out
 * a quote that no verifier can match.
 */
import { createHash } from 'node:crypto';
import { ParseError } from '../errors.js';
import { decodeAttest, decodePcrsBlob, pcrIndicesOf } from '../quote/index.js';
import type { HashAlg } from './algorithms.js';

export interface PcrSelection {
  /** TPM_ALG_ID of the bank. */
  hashAlg: number;
  /** Selected PCR indices, ascending. */
  pcrs: number[];
}

export interface QuotedPcrs {
  selections: PcrSelection[];
  /** PCR values in selection order, ascending PCR order inside each selection. */
  values: Buffer[];
}

export interface AttestedQuote {
  extraData: Buffer;
  selections: PcrSelection[];
  pcrDigest: Buffer;
}

/** The quote-specific fields of a marshalled TPMS_ATTEST (tpm2_quote -m). */
export function parseQuoteAttest(attest: Buffer): AttestedQuote {
  const at = decodeAttest(attest);
  if (at.magic !== 0xff544347) throw new ParseError('TPMS_ATTEST magic is not TPM_GENERATED_VALUE', 0);
  if (at.attested.kind !== 'quote') throw new ParseError('TPMS_ATTEST is not a quote (type 0x8018)', 4);
  return {
    extraData: at.extraData,
    selections: at.attested.pcrSelections.map((s) => ({ hashAlg: s.hashAlg, pcrs: pcrIndicesOf(s.select) })),
    pcrDigest: at.attested.pcrDigest,
  };
}

/** The little-endian tpm2-tools pcrs dump (tpm2_quote -o, serialized form). */
export function parsePcrsBlob(blob: Buffer): QuotedPcrs {
  const decoded = decodePcrsBlob(blob);
  const selections = decoded.slots.slice(0, decoded.selectionCount).map((s) => ({ hashAlg: s.hashAlg, pcrs: pcrIndicesOf(bitsToSelect(s.bits)) }));
  const expected = selections.reduce((n, s) => n + s.pcrs.length, 0);
  if (decoded.values.length !== expected) {
    throw new ParseError(`PCRs blob holds ${decoded.values.length} values for ${expected} selected PCRs`, 136);
  }
  return { selections, values: decoded.values };
}

function bitsToSelect(bits: number): Buffer {
  return Buffer.from([bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff]);
}

export interface PcrConsistency {
  consistent: boolean;
  /** Quoted values by bank id and PCR index. */
  values: Map<number, Map<number, Buffer>>;
  reason?: string;
}

function sameSelections(a: PcrSelection[], b: PcrSelection[]): boolean {
  return a.length === b.length && a.every((s, i) => s.hashAlg === b[i]!.hashAlg && s.pcrs.join() === b[i]!.pcrs.join());
}

/**
 * True when the PCR values tpm2_quote wrote hash (with the quote's signing hash) to the
 * pcrDigest the TPM signed, for the same selection. Throws ParseError on malformed blobs.
 */
export function checkQuotedPcrs(attest: Buffer, pcrsBlob: Buffer, signHash: HashAlg): PcrConsistency {
  const attested = parseQuoteAttest(attest);
  const quoted = parsePcrsBlob(pcrsBlob);
  const values = new Map<number, Map<number, Buffer>>();
  let next = 0;
  for (const selection of quoted.selections) {
    const bank = values.get(selection.hashAlg) ?? new Map<number, Buffer>();
    for (const pcr of selection.pcrs) bank.set(pcr, quoted.values[next++]!);
    values.set(selection.hashAlg, bank);
  }
  if (!sameSelections(attested.selections, quoted.selections)) {
    return { consistent: false, values, reason: 'PCR selection of the values differs from the attested selection' };
  }
  const digest = createHash(signHash).update(Buffer.concat(quoted.values)).digest();
  if (!digest.equals(attested.pcrDigest)) {
    return { consistent: false, values, reason: 'PCR values changed between the quote and the PCR read' };
  }
  return { consistent: true, values };
}
