import { ParseError } from '../errors.js';
import { TPM_ST_ATTEST_CERTIFY, TPM_ST_ATTEST_QUOTE } from './algorithms.js';
import { TpmReader, TpmWriter } from './marshal.js';

/** TPMS_CLOCK_INFO, named as Keylime stores it (`tpm_clockinfo`). */
export interface ClockInfo {
  /** Milliseconds the TPM has been powered; exact below 2^53. */
  clock: number;
  resetCount: number;
  restartCount: number;
  /** 1 when the clock value is known not to have gone backwards. */
  safe: number;
}

/** One TPMS_PCR_SELECTION: bank hash and the select bitmap (byte i bit j = PCR 8i+j). */
export interface PcrSelection {
  hashAlg: number;
  select: Buffer;
}

export interface QuoteInfo {
  kind: 'quote';
  pcrSelections: PcrSelection[];
  pcrDigest: Buffer;
}

export interface CertifyInfo {
  kind: 'certify';
  name: Buffer;
  qualifiedName: Buffer;
}

/** Any other attestation type: kept as bytes, never trusted. */
export interface OtherAttested {
  kind: 'other';
  raw: Buffer;
}

export interface TpmsAttest {
  magic: number;
  type: number;
  qualifiedSigner: Buffer;
  extraData: Buffer;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
  attested: QuoteInfo | CertifyInfo | OtherAttested;
}

/** TPM2B_NAME holds a TPMT_HA (2 + 64 bytes) or a handle. */
const MAX_NAME = 66;
/** TPM2B_DATA is sized for a TPMT_HA. */
const MAX_DATA = 66;
const MAX_DIGEST = 64;
/** TPML_PCR_SELECTION holds at most one entry per implemented hash (HASH_COUNT). */
const MAX_SELECTIONS = 16;
const MAX_SIZEOF_SELECT = 4;

export function readPcrSelections(r: TpmReader): PcrSelection[] {
  const at = r.offset;
  const count = r.u32('TPML_PCR_SELECTION count');
  if (count > MAX_SELECTIONS) throw new ParseError(`TPML_PCR_SELECTION count ${count} exceeds ${MAX_SELECTIONS}`, at);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashAlg = r.u16('TPMS_PCR_SELECTION hash');
    const sizeAt = r.offset;
    const size = r.u8('TPMS_PCR_SELECTION sizeofSelect');
    if (size > MAX_SIZEOF_SELECT) throw new ParseError(`sizeofSelect ${size} exceeds ${MAX_SIZEOF_SELECT}`, sizeAt);
    out.push({ hashAlg, select: r.bytes(size, 'TPMS_PCR_SELECTION pcrSelect') });
  }
  return out;
}

export function writePcrSelections(w: TpmWriter, selections: readonly PcrSelection[]): void {
  w.u32(selections.length);
  for (const s of selections) w.u16(s.hashAlg).u8(s.select.length).bytes(s.select);
}

/** PCR indices selected by a pcrSelect bitmap, ascending. */
export function pcrIndicesOf(select: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < select.length; i++) {
    const b = select[i]!;
    if (b === 0) continue;
    for (let j = 0; j < 8; j++) if (b & (1 << j)) out.push(i * 8 + j);
  }
  return out;
}

/** The pcrSelect bitmap for PCR indices (3 bytes covers PCRs 0-23). */
export function selectOf(indices: Iterable<number>, size = 3): Buffer {
  const out = Buffer.alloc(size);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= size * 8) throw new RangeError(`PCR ${i} does not fit a ${size}-byte selection`);
    out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
}

function readClockInfo(r: TpmReader): ClockInfo {
  return {
    clock: r.u64('clockInfo.clock'),
    resetCount: r.u32('clockInfo.resetCount'),
    restartCount: r.u32('clockInfo.restartCount'),
    safe: r.u8('clockInfo.safe'),
  };
}

/**
 * Decodes a marshalled TPMS_ATTEST (what `tpm2_quote -m` writes). Magic and type are
 * returned, not enforced: a wrong magic is a verification failure, not bad bytes.
 */
export function decodeAttest(bytes: Buffer): TpmsAttest {
  const r = new TpmReader(bytes);
  const magic = r.u32('TPMS_ATTEST magic');
  const type = r.u16('TPMS_ATTEST type');
  const qualifiedSigner = r.tpm2b('TPMS_ATTEST qualifiedSigner', MAX_NAME);
  const extraData = r.tpm2b('TPMS_ATTEST extraData', MAX_DATA);
  const clockInfo = readClockInfo(r);
  const firmwareVersion = r.u64big('TPMS_ATTEST firmwareVersion');
  let attested: TpmsAttest['attested'];
  if (type === TPM_ST_ATTEST_QUOTE) {
    const pcrSelections = readPcrSelections(r);
    const pcrDigest = r.tpm2b('TPMS_QUOTE_INFO pcrDigest', MAX_DIGEST);
    attested = { kind: 'quote', pcrSelections, pcrDigest };
  } else if (type === TPM_ST_ATTEST_CERTIFY) {
    const name = r.tpm2b('TPMS_CERTIFY_INFO name', MAX_NAME);
    const qualifiedName = r.tpm2b('TPMS_CERTIFY_INFO qualifiedName', MAX_NAME);
    attested = { kind: 'certify', name, qualifiedName };
  } else {
    attested = { kind: 'other', raw: r.bytes(r.remaining, 'TPMS_ATTEST attested') };
  }
  r.expectEnd('TPMS_ATTEST');
  return { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, attested };
}

export function encodeAttest(a: TpmsAttest): Buffer {
  const w = new TpmWriter();
  w.u32(a.magic).u16(a.type).tpm2b(a.qualifiedSigner, 'qualifiedSigner').tpm2b(a.extraData, 'extraData');
  w.u64(a.clockInfo.clock).u32(a.clockInfo.resetCount).u32(a.clockInfo.restartCount).u8(a.clockInfo.safe);
  w.u64(a.firmwareVersion);
  const at = a.attested;
  if (at.kind === 'quote') {
    writePcrSelections(w, at.pcrSelections);
    w.tpm2b(at.pcrDigest, 'pcrDigest');
  } else if (at.kind === 'certify') {
    w.tpm2b(at.name, 'name').tpm2b(at.qualifiedName, 'qualifiedName');
  } else {
    w.bytes(at.raw);
  }
  return w.finish();
}
