/**
 * tpm2_quote reads the PCR values it writes with -o in a separate TPM command, so a PCR
 * extended in between makes the values disagree with the signed pcrDigest. These helpers
 * read both blobs (protocol spec §4.2 and §4.4) and recompute the digest, so the driver can
 * retry instead of handing out a quote that no verifier can match.
 */
import { createHash } from 'node:crypto';
import { ParseError } from '../errors.js';
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

class Reader {
  offset = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.offset + n > this.buf.length) {
      throw new ParseError(`${this.what} truncated: ${n} more bytes needed`, this.offset);
    }
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  sized(): Buffer {
    return this.bytes(this.u16());
  }
}

function selectedPcrs(select: Buffer): number[] {
  const pcrs: number[] = [];
  select.forEach((byte, i) => {
    for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) pcrs.push(i * 8 + bit);
  });
  return pcrs;
}

export interface AttestedQuote {
  extraData: Buffer;
  selections: PcrSelection[];
  pcrDigest: Buffer;
}

/** Reads the quote-specific fields of a marshalled TPMS_ATTEST (tpm2_quote -m). */
export function parseQuoteAttest(attest: Buffer): AttestedQuote {
  const r = new Reader(attest, 'TPMS_ATTEST');
  if (r.u32() !== 0xff544347) throw new ParseError('TPMS_ATTEST magic is not TPM_GENERATED_VALUE', 0);
  if (r.u16() !== 0x8018) throw new ParseError('TPMS_ATTEST is not a quote (type 0x8018)', 4);
  r.sized(); // qualifiedSigner
  const extraData = Buffer.from(r.sized());
  r.bytes(17 + 8); // clockInfo, firmwareVersion
  const count = r.u32();
  if (count > 16) throw new ParseError(`TPML_PCR_SELECTION count ${count} exceeds 16`, r.offset - 4);
  const selections: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashAlg = r.u16();
    const size = r.u8();
    if (size > 4) throw new ParseError(`sizeofSelect ${size} exceeds 4`, r.offset - 1);
    selections.push({ hashAlg, pcrs: selectedPcrs(r.bytes(size)) });
  }
  const pcrDigest = Buffer.from(r.sized());
  if (r.offset !== attest.length) throw new ParseError('TPMS_ATTEST has trailing bytes', r.offset);
  return { extraData, selections, pcrDigest };
}

const SELECTION_SLOTS = 16;
const DIGEST_SLOTS = 8;
const DIGEST_LIST_SIZE = 4 + DIGEST_SLOTS * (2 + 64);
const HEADER_SIZE = 4 + SELECTION_SLOTS * 8 + 4;

/** Reads the little-endian tpm2-tools pcrs dump (tpm2_quote -o, serialized form). */
export function parsePcrsBlob(blob: Buffer): QuotedPcrs {
  if (blob.length < HEADER_SIZE) throw new ParseError(`PCRs blob is ${blob.length} bytes, shorter than its header`, 0);
  const count = blob.readUInt32LE(0);
  if (count > SELECTION_SLOTS) throw new ParseError(`PCRs blob selection count ${count} exceeds ${SELECTION_SLOTS}`, 0);
  const selections: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * 8;
    const size = blob.readUInt8(at + 2);
    if (size > 4) throw new ParseError(`PCRs blob sizeofSelect ${size} exceeds 4`, at + 2);
    selections.push({ hashAlg: blob.readUInt16LE(at), pcrs: selectedPcrs(blob.subarray(at + 3, at + 3 + size)) });
  }
  const lists = blob.readUInt32LE(HEADER_SIZE - 4);
  if (blob.length !== HEADER_SIZE + lists * DIGEST_LIST_SIZE) {
    throw new ParseError(`PCRs blob is ${blob.length} bytes but announces ${lists} digest lists`, HEADER_SIZE - 4);
  }
  const values: Buffer[] = [];
  for (let l = 0; l < lists; l++) {
    for (let slot = 0; slot < DIGEST_SLOTS; slot++) {
      const at = HEADER_SIZE + l * DIGEST_LIST_SIZE + 4 + slot * 66;
      const size = blob.readUInt16LE(at);
      if (size > 64) throw new ParseError(`PCR digest size ${size} exceeds 64`, at);
      if (size > 0) values.push(Buffer.from(blob.subarray(at + 2, at + 2 + size)));
    }
  }
  const expected = selections.reduce((n, s) => n + s.pcrs.length, 0);
  if (values.length !== expected) {
    throw new ParseError(`PCRs blob holds ${values.length} values for ${expected} selected PCRs`, HEADER_SIZE);
  }
  return { selections, values };
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
