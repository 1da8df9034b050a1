/**
 * The parsers behind the quote consistency check, fed with real swtpm output and with
 * damaged copies of it: they answer or throw ParseError, never anything else.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/errors.js';
import {
  Tpm,
  checkQuotedPcrs,
  objectName,
  parsePcrsBlob,
  parseQuoteAttest,
  readPublicHeader,
  trimDerCertificate,
  type TpmQuote,
} from '../../../src/tpm/index.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { scratchDir } from './helpers.js';

function onlyParseErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
  }
}

function mutations(sample: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let n = 0; n < sample.length; n++) out.push(sample.subarray(0, n));
  for (let bit = 0; bit < sample.length * 8; bit += 3) {
    const copy = Buffer.from(sample);
    copy[bit >> 3]! ^= 1 << (bit & 7);
    out.push(copy);
  }
  for (let i = 0; i < 300; i++) out.push(randomBytes(Math.floor(Math.random() * (sample.length + 64))));
  return out;
}

describe('quote and key blobs from tpm2-tools', () => {
  let swtpm: Swtpm;
  let dir: string;
  let quote: TpmQuote;
  let later: TpmQuote;
  let akPublic: Buffer;
  let ekCert: Buffer;

  beforeAll(async () => {
    swtpm = await startSwtpm();
    dir = scratchDir();
    const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    await tpm.createEk('rsa');
    akPublic = (await tpm.createAk()).akPublic;
    ekCert = (await tpm.readEkCertificate('rsa'))!;
    quote = await tpm.quote({ nonce: 'blobNonce', bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 23] });
    await tpm.pcrExtend(23, 'sha256', Buffer.alloc(32, 7));
    later = await tpm.quote({ nonce: 'blobNonce', bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 23] });
  });
  afterAll(async () => {
    await swtpm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the attested selection, nonce and digest, and the PCR values of the blob', () => {
    const attested = parseQuoteAttest(quote.attest);
    expect(attested.extraData.toString()).toBe('blobNonce');
    expect(attested.selections).toEqual([{ hashAlg: 0x000b, pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 23] }]);
    expect(attested.pcrDigest.length).toBe(32);
    const blob = parsePcrsBlob(quote.pcrsBlob);
    expect(blob.selections).toEqual(attested.selections);
    expect(blob.values).toHaveLength(12);
    expect(checkQuotedPcrs(quote.attest, quote.pcrsBlob, 'sha256').consistent).toBe(true);
  });

  it('notices PCR values that do not belong to the signed digest', () => {
    const mixed = checkQuotedPcrs(quote.attest, later.pcrsBlob, 'sha256');
    expect(mixed.consistent).toBe(false);
    expect(mixed.reason).toMatch(/changed/);
    const otherSelection = checkQuotedPcrs(quote.attest, pcrsBlobSelecting([0]), 'sha256');
    expect(otherSelection.consistent).toBe(false);
  });

  it('reads the AK public header and name', () => {
    expect(readPublicHeader(akPublic)).toEqual({ type: 0x0001, nameAlg: 0x000b, objectAttributes: 0x00050072 });
    expect(objectName(akPublic)).toHaveLength(34);
  });

  it('trims the EK certificate to its DER length whatever follows it in the NV index', () => {
    expect(trimDerCertificate(Buffer.concat([ekCert, Buffer.alloc(300, 0xff)])).equals(ekCert)).toBe(true);
    expect(trimDerCertificate(ekCert).equals(ekCert)).toBe(true);
    expect(() => trimDerCertificate(ekCert.subarray(0, ekCert.length - 1))).toThrow(ParseError);
    expect(trimDerCertificate(Buffer.from([0x30, 0x03, 1, 2, 3, 0, 0])).toString('hex')).toBe('3003010203');
  });

  it('throws only ParseError on truncated, bit-flipped and random input', () => {
    for (const m of mutations(quote.attest)) onlyParseErrors(() => parseQuoteAttest(m));
    for (const m of mutations(quote.pcrsBlob)) onlyParseErrors(() => parsePcrsBlob(m));
    for (const m of mutations(quote.pcrsBlob)) onlyParseErrors(() => checkQuotedPcrs(quote.attest, m, 'sha256'));
    for (const m of mutations(quote.attest)) onlyParseErrors(() => checkQuotedPcrs(m, quote.pcrsBlob, 'sha256'));
    for (const m of mutations(akPublic)) onlyParseErrors(() => objectName(m));
    for (const m of mutations(akPublic)) onlyParseErrors(() => readPublicHeader(m));
    for (const m of mutations(ekCert.subarray(0, 64))) onlyParseErrors(() => trimDerCertificate(m));
  });
});

/** A well-formed pcrs blob selecting other PCRs (all zero values). */
function pcrsBlobSelecting(pcrs: number[]): Buffer {
  const blob = Buffer.alloc(136 + 532 * Math.ceil(pcrs.length / 8));
  blob.writeUInt32LE(1, 0);
  blob.writeUInt16LE(0x000b, 4);
  blob.writeUInt8(3, 6);
  for (const p of pcrs) blob[7 + (p >> 3)]! |= 1 << (p & 7);
  blob.writeUInt32LE(Math.ceil(pcrs.length / 8), 132);
  pcrs.forEach((_, i) => {
    const at = 136 + Math.floor(i / 8) * 532;
    blob.writeUInt32LE(Math.min(8, pcrs.length - Math.floor(i / 8) * 8), at);
    blob.writeUInt16LE(32, at + 4 + (i % 8) * 66);
  });
  return blob;
}
