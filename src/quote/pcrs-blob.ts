import { ParseError } from '../errors.js';
import { hashById, hex16 } from './algorithms.js';
import { TpmReader, TpmWriter } from './marshal.js';

/**
 * The tpm2-tools `tpm2_quote -o` pcrs file (spec §4.4): an in-memory dump of
 * `tpm2_pcrs`, little-endian with C padding. Layout constants:
 */
const SELECTION_SLOTS = 16;
const SELECTION_SLOT_SIZE = 8;
const DIGESTS_PER_LIST = 8;
const DIGEST_BUFFER = 64;
const LIST_SIZE = 4 + DIGESTS_PER_LIST * (2 + DIGEST_BUFFER); // 532
const HEADER_SIZE = 4 + SELECTION_SLOTS * SELECTION_SLOT_SIZE + 4; // 136
/** 24 PCRs per bank and at most 16 banks: more lists than that cannot be honest. */
const MAX_LISTS = Math.ceil((24 * SELECTION_SLOTS) / DIGESTS_PER_LIST);

export interface PcrsBlobSlot {
  hashAlg: number;
  /** 0 (unused) or 3. */
  sizeofSelect: number;
  /** 24-bit selection: bit i = PCR i. */
  bits: number;
}

export interface PcrsBlob {
  /** TPML_PCR_SELECTION.count as written. */
  selectionCount: number;
  /** All 16 selection slots, used or not. */
  slots: PcrsBlobSlot[];
  /** Every digest slot with a non-zero size, in file order (list counts are ignored, as Keylime does). */
  values: Buffer[];
}

export function decodePcrsBlob(bytes: Buffer): PcrsBlob {
  const r = new TpmReader(bytes);
  const selectionCount = r.u32le('pcrs selection count');
  const slots: PcrsBlobSlot[] = [];
  for (let i = 0; i < SELECTION_SLOTS; i++) {
    const hashAlg = r.u16le('pcrs selection hash');
    const sizeAt = r.offset;
    const sizeofSelect = r.u8('pcrs sizeofSelect');
    if (sizeofSelect !== 0 && sizeofSelect !== 3) {
      throw new ParseError(`pcrs sizeofSelect must be 0 or 3, not ${sizeofSelect}`, sizeAt);
    }
    const sel = r.bytes(3, 'pcrs pcrSelect');
    r.skip(2, 'pcrs selection padding');
    const bits = sizeofSelect === 3 ? sel[0]! | (sel[1]! << 8) | (sel[2]! << 16) : 0;
    slots.push({ hashAlg, sizeofSelect, bits });
  }
  const countAt = r.offset;
  const lists = r.u32le('pcrs digest list count');
  if (lists > MAX_LISTS) throw new ParseError(`pcrs file claims ${lists} digest lists (at most ${MAX_LISTS})`, countAt);
  if (r.remaining !== lists * LIST_SIZE) {
    throw new ParseError(
      `pcrs file is ${bytes.length} bytes, expected ${HEADER_SIZE + lists * LIST_SIZE} for ${lists} digest lists`,
      r.offset,
    );
  }
  const values: Buffer[] = [];
  for (let l = 0; l < lists; l++) {
    r.skip(4, 'TPML_DIGEST count');
    for (let d = 0; d < DIGESTS_PER_LIST; d++) {
      const sizeAt = r.offset;
      const size = r.u16le('TPM2B_DIGEST size');
      if (size > DIGEST_BUFFER) throw new ParseError(`pcrs digest size ${size} exceeds ${DIGEST_BUFFER}`, sizeAt);
      const buffer = r.bytes(DIGEST_BUFFER, 'TPM2B_DIGEST buffer');
      if (size !== 0) values.push(buffer.subarray(0, size));
    }
  }
  return { selectionCount, slots, values };
}

/**
 * Writes the pcrs file for one bank, PCR values in ascending PCR order, filling the
 * 8-slot digest lists in turn, exactly as tpm2-tools does.
 */
export function encodePcrsBlob(hashAlg: number, pcrs: ReadonlyMap<number, Buffer> | Record<number, Buffer>): Buffer {
  const h = hashById(hashAlg);
  if (!h) throw new RangeError(`unsupported PCR bank ${hex16(hashAlg)}`);
  const entries = (pcrs instanceof Map ? [...pcrs.entries()] : Object.entries(pcrs).map(([k, v]) => [Number(k), v] as const))
    .map(([k, v]) => [k, v] as [number, Buffer])
    .sort((a, b) => a[0] - b[0]);
  let bits = 0;
  for (const [pcr, value] of entries) {
    if (!Number.isInteger(pcr) || pcr < 0 || pcr > 23) throw new RangeError(`PCR index ${pcr} out of range 0-23`);
    if (value.length !== h.size) throw new RangeError(`PCR ${pcr} value is ${value.length} bytes, ${h.name} needs ${h.size}`);
    bits |= 1 << pcr;
  }
  const w = new TpmWriter();
  w.u32le(1);
  w.u16le(hashAlg).u8(3).u8(bits & 0xff).u8((bits >> 8) & 0xff).u8((bits >> 16) & 0xff).u8(0).u8(0);
  w.zeros((SELECTION_SLOTS - 1) * SELECTION_SLOT_SIZE);
  const lists = Math.ceil(entries.length / DIGESTS_PER_LIST);
  w.u32le(lists);
  for (let l = 0; l < lists; l++) {
    const chunk = entries.slice(l * DIGESTS_PER_LIST, (l + 1) * DIGESTS_PER_LIST);
    w.u32le(chunk.length);
    for (let d = 0; d < DIGESTS_PER_LIST; d++) {
      const value = chunk[d]?.[1];
      if (value) w.u16le(value.length).bytes(value).zeros(DIGEST_BUFFER - value.length);
      else w.zeros(2 + DIGEST_BUFFER);
    }
  }
  return w.finish();
}

export const PCRS_BLOB_HEADER_SIZE = HEADER_SIZE;
export const PCRS_BLOB_LIST_SIZE = LIST_SIZE;
