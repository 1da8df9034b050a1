import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/errors.js';
import {
  INITIAL_CLOCK,
  TPM_ALG,
  TPM_ST_ATTEST_CERTIFY,
  buildTpmPolicy,
  decodeSignature,
  encodeSignature,
  expectedDataPcr,
  formatQuoteString,
  parseQuoteString,
  resolveAk,
  selectOf,
  signSoftwareQuote,
  signingKeyFromPem,
  verifyQuote,
  type HashName,
  type QuoteParts,
  type VerifyQuoteOptions,
} from '../../../src/quote/index.js';
import { AGENT_PEM, agentPcrs, pcrValue, signedQuote, testAk } from './fixtures.js';

const NONCE = 'abcdefghij0123456789';
const ELEVEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16];

function errorsOf(opts: VerifyQuoteOptions): unknown[] {
  return verifyQuote(opts).failures.map((f) => f.context.error ?? f.context.data ?? f.eventId);
}

describe('verifyQuote on software quotes: every key type and hash', () => {
  const keys = ['rsa2048', 'rsa3072', 'rsa4096', 'P-256', 'P-384', 'P-521'] as const;
  const hashes: HashName[] = ['sha1', 'sha256', 'sha384', 'sha512'];
  for (const type of keys) {
    for (const hashAlg of hashes) {
      it(`${type} / ${hashAlg}`, () => {
        const ak = testAk(type, hashAlg);
        const q = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg, nonce: NONCE, pcrs: agentPcrs(hashAlg, ELEVEN) });
        const policy = buildTpmPolicy({ 3: pcrValue(hashAlg, 'pcr3').toString('hex') });
        const verdict = verifyQuote({ quote: q.quote, ak: ak.akTpm, nonce: NONCE, hashAlg, dataPubkeyPem: AGENT_PEM, tpmPolicy: policy });
        expect(verdict.failures).toEqual([]);
        expect(verdict.valid).toBe(true);
        expect(verdict.hashAlg).toBe(hashAlg);
        expect(Object.keys(verdict.pcrs).map(Number)).toEqual(ELEVEN);
        expect(verdict.pcrs[16]).toBe(expectedDataPcr(AGENT_PEM, hashAlg));
        expect(verdict.pcrs[5]).toBe(pcrValue(hashAlg, 'pcr5').toString('hex'));
        expect(verdict.clock).toEqual({ clock: 1000, resetCount: 0, restartCount: 0, safe: 1 });
        expect(verdict.attest.extraData.toString()).toBe(NONCE);
      });
    }
  }
});

describe('verifyQuote inputs', () => {
  const ak = testAk('P-256');
  const q = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg: 'sha256', nonce: NONCE, pcrs: agentPcrs('sha256', [16]) });

  it('takes the AK as base64, raw TPM2B_PUBLIC, a pre-parsed key or a PEM-derived key', () => {
    for (const a of [ak.akTpm, Buffer.from(ak.akTpm, 'base64'), resolveAk(ak.akTpm), signingKeyFromPem(ak.pem)]) {
      expect(verifyQuote({ quote: q.quote, ak: a, nonce: NONCE, hashAlg: 'sha256' }).valid).toBe(true);
    }
  });

  it('takes the quote as a string or as parts', () => {
    expect(verifyQuote({ quote: parseQuoteString(q.quote), ak: ak.akTpm, nonce: NONCE, hashAlg: 'sha256' }).valid).toBe(true);
  });

  it('accepts extraData holding the base64-decoded nonce (push-mode agents)', () => {
    const nonce = Buffer.from('0123456789abcdef0123').toString('base64');
    const pq = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg: 'sha256', nonce: Buffer.from('0123456789abcdef0123'), pcrs: agentPcrs('sha256', [16]) });
    expect(verifyQuote({ quote: pq.quote, ak: ak.akTpm, nonce, hashAlg: 'sha256' }).valid).toBe(true);
  });

  it('throws ParseError, and only that, for undecodable input', () => {
    const bad: Array<Partial<VerifyQuoteOptions>> = [
      { quote: 'x' + q.quote.slice(1) },
      { quote: q.quote.replace(':', ';') },
      { quote: q.quote.slice(0, -1) + '!' },
      { quote: '' },
      { ak: 'AAAA' },
      { ak: 'not base64' },
      { tpmPolicy: '{"mask": 12}' },
    ];
    for (const b of bad) {
      expect(() => verifyQuote({ quote: q.quote, ak: ak.akTpm, nonce: NONCE, hashAlg: 'sha256', ...b }), JSON.stringify(b)).toThrow(ParseError);
    }
  });
});

describe('quote_validation failures', () => {
  const rsa = testAk('rsa2048');
  const ecc = testAk('P-256');
  const pcrs = agentPcrs('sha256', [16, 23]);
  const base = (quote: string, ak = rsa.akTpm): VerifyQuoteOptions => ({ quote, ak, nonce: NONCE, hashAlg: 'sha256' });

  it('each failure is one irrecoverable qoute_validation.quote_validation event with Keylime context', () => {
    const verdict = verifyQuote({ ...base(signedQuote(rsa.privateKey, 'sha256', {}, pcrs).quote), nonce: 'other' });
    expect(verdict.valid).toBe(false);
    expect(verdict.failures).toEqual([
      {
        eventId: 'qoute_validation.quote_validation',
        recoverable: false,
        context: { message: 'Quote data validation', error: 'The nonce from the attestation differs from the expected nonce' },
      },
    ]);
    expect(verdict.pcrs).toEqual({});
    expect(verdict.clock).toEqual(INITIAL_CLOCK);
  });

  it('wrong magic, attestation type or AK', () => {
    expect(errorsOf(base(signedQuote(rsa.privateKey, 'sha256', { magic: 0xff544348 }, pcrs).quote))).toEqual([
      'TPMS_ATTEST magic is 0xff544348, not TPM_GENERATED_VALUE 0xff544347',
    ]);
    const certify = signedQuote(rsa.privateKey, 'sha256', { type: TPM_ST_ATTEST_CERTIFY, attested: { kind: 'certify', name: Buffer.alloc(34), qualifiedName: Buffer.alloc(34) } }, pcrs);
    expect(errorsOf(base(certify.quote))).toEqual(['TPMS_ATTEST type is 0x8017, not a quote (0x8018)']);
    const other = testAk('rsa3072');
    expect(errorsOf(base(signedQuote(rsa.privateKey, 'sha256', {}, pcrs).quote, other.akTpm))).toEqual(['Invalid quote signature']);
    expect(errorsOf(base(signedQuote(rsa.privateKey, 'sha256', {}, pcrs).quote, ecc.akTpm))).toEqual([
      "Unsupported quote signature algorithm '0x0014' for EC keys",
    ]);
  });

  it('PCR selection problems', () => {
    const two = signedQuote(rsa.privateKey, 'sha256', {
      attested: {
        kind: 'quote',
        pcrSelections: [{ hashAlg: TPM_ALG.SHA256, select: selectOf([16, 23]) }, { hashAlg: TPM_ALG.SHA1, select: selectOf([]) }],
        pcrDigest: Buffer.alloc(32),
      },
    }, pcrs);
    expect(errorsOf(base(two.quote))).toEqual(['the quote must select exactly one PCR bank, sha256 (the signature hash)']);
    const sha1Bank = signedQuote(rsa.privateKey, 'sha256', {
      attested: { kind: 'quote', pcrSelections: [{ hashAlg: TPM_ALG.SHA1, select: selectOf([16, 23]) }], pcrDigest: Buffer.alloc(32) },
    }, pcrs);
    expect(errorsOf(base(sha1Bank.quote))).toEqual(['the quote must select exactly one PCR bank, sha256 (the signature hash)']);
    const wide = signedQuote(rsa.privateKey, 'sha256', {
      attested: { kind: 'quote', pcrSelections: [{ hashAlg: TPM_ALG.SHA256, select: Buffer.from([0, 0, 0x81, 1]) }], pcrDigest: Buffer.alloc(32) },
    }, pcrs);
    expect(errorsOf(base(wide.quote))).toEqual(['the quote selects PCRs beyond 23']);
    // The pcrs file claims PCRs 16 and 22 while the TPM attested 16 and 23: same values, same digest, wrong indices.
    const moved = signedQuote(rsa.privateKey, 'sha256', {}, pcrs);
    const blob = Buffer.from(moved.pcrs);
    blob[4 + 3 + 2] = 0x41; // select byte 2: PCRs 16 and 22
    expect(errorsOf(base(formatQuoteString({ ...moved, pcrs: blob })))).toEqual([
      'the PCR selection in the pcrs data differs from the attested selection',
    ]);
    const bank = Buffer.from(moved.pcrs);
    bank.writeUInt16LE(TPM_ALG.SHA1, 4);
    expect(errorsOf(base(formatQuoteString({ ...moved, pcrs: bank })))).toEqual(['the pcrs data must select exactly one PCR bank, sha256']);
    const count = Buffer.from(moved.pcrs);
    count.writeUInt32LE(2, 0);
    expect(errorsOf(base(formatQuoteString({ ...moved, pcrs: count })))).toEqual(['the pcrs data must select exactly one PCR bank, sha256']);
    const missingValue = Buffer.from(moved.pcrs);
    missingValue.writeUInt16LE(0, 136 + 4 + 66); // second digest slot emptied
    expect(errorsOf(base(formatQuoteString({ ...moved, pcrs: missingValue })))).toEqual(['the pcrs data holds 1 PCR values for 2 selected PCRs']);
    const shortValue = Buffer.from(moved.pcrs);
    shortValue.writeUInt16LE(20, 136 + 4);
    expect(errorsOf(base(formatQuoteString({ ...moved, pcrs: shortValue })))).toEqual(['a PCR value is 20 bytes, sha256 needs 32']);
  });

  it('signature scheme and hash rules', () => {
    const q = signedQuote(rsa.privateKey, 'sha256', {}, pcrs);
    const sig = decodeSignature(q.signature);
    const withSig = (s: Parameters<typeof encodeSignature>[0]) => formatQuoteString({ ...(q as QuoteParts), signature: encodeSignature(s) });
    expect(errorsOf(base(withSig({ kind: 'null', sigAlg: TPM_ALG.NULL })))).toEqual(['the quote is not signed (TPM_ALG_NULL signature)']);
    expect(errorsOf(base(withSig({ kind: 'hmac', sigAlg: TPM_ALG.HMAC, hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(32) })))).toEqual([
      "Unsupported quote signature algorithm '0x0005' for RSA keys",
    ]);
    if (sig.kind !== 'rsa') throw new Error('expected an RSA signature');
    expect(errorsOf(base(withSig({ ...sig, hashAlg: 0x0012 })))).toEqual(['Unsupported hash with id 0x0012 in signature blob']);
    expect(errorsOf(base(withSig({ ...sig, sigAlg: TPM_ALG.RSAPSS })))).toEqual(["Unsupported quote signature algorithm '0x0016' for RSA keys"]);
    expect(errorsOf(base(withSig({ ...sig, hashAlg: TPM_ALG.SHA384 })))).toEqual(['Quote was expected to use sha256 but used sha384 instead']);
    expect(errorsOf(base(withSig({ ...sig, signature: sig.signature.subarray(1) })))).toEqual(['Invalid quote signature']);
  });

  it('ECDSA r and s of any TPM2B length verify (leading zeros stripped or added)', () => {
    let found = false;
    for (let i = 0; i < 2000 && !found; i++) {
      const q = signedQuote(ecc.privateKey, 'sha256', { clockInfo: { clock: 1000 + i, resetCount: 0, restartCount: 0, safe: 1 } }, pcrs);
      const sig = decodeSignature(q.signature);
      if (sig.kind !== 'ecc') throw new Error('expected ECDSA');
      const padded = formatQuoteString({ ...q, signature: encodeSignature({ ...sig, r: Buffer.concat([Buffer.alloc(1), sig.r]) }) });
      expect(verifyQuote(base(padded, ecc.akTpm)).valid).toBe(true);
      if (sig.r[0] === 0) {
        found = true;
        const stripped = formatQuoteString({ ...q, signature: encodeSignature({ ...sig, r: sig.r.subarray(1) }) });
        expect(verifyQuote(base(stripped, ecc.akTpm)).valid).toBe(true);
      }
    }
    expect(found).toBe(true);
  });
});

describe('clock checks', () => {
  const ak = testAk('P-256');
  const pcrs = agentPcrs('sha256', [16]);
  const at = (clockInfo: { clock: number; resetCount: number; restartCount: number; safe: number }, lastClock = { clock: 5000, resetCount: 3, restartCount: 2, safe: 1 }) =>
    verifyQuote({ quote: signedQuote(ak.privateKey, 'sha256', { clockInfo }, pcrs).quote, ak: ak.akTpm, nonce: NONCE, hashAlg: 'sha256', lastClock });

  it('accepts a clock that advanced and returns it as the new state', () => {
    const v = at({ clock: 6000, resetCount: 3, restartCount: 2, safe: 1 });
    expect(v.valid).toBe(true);
    expect(v.clock).toEqual({ clock: 6000, resetCount: 3, restartCount: 2, safe: 1 });
  });

  it.each([
    [{ clock: 6000, resetCount: 2, restartCount: 2, safe: 1 }, 'resetCount value decreased on TPM between two consecutive quotes'],
    [{ clock: 6000, resetCount: 4, restartCount: 1, safe: 1 }, 'restartCount value decreased on TPM between two consecutive quotes'],
    [{ clock: 6000, resetCount: 3, restartCount: 2, safe: 0 }, 'clock safe flag is disabled'],
    [{ clock: 5000, resetCount: 3, restartCount: 2, safe: 1 }, 'clock timestamp issued by TPM did not increase between two consecutive quotes'],
    [{ clock: 100, resetCount: 4, restartCount: 2, safe: 1 }, 'clock timestamp issued by TPM did not increase between two consecutive quotes'],
  ])('refuses %j', (clockInfo, reason) => {
    const v = at(clockInfo);
    expect(v.failures).toEqual([
      { eventId: 'qoute_validation.quote_validation', recoverable: false, context: { message: 'Validation of clockinfo from quote using tpm2-tools', data: reason } },
    ]);
    expect(v.clock).toEqual({ clock: 5000, resetCount: 3, restartCount: 2, safe: 1 });
  });

  it('after both a reset and a restart any clock passes and the old state is kept', () => {
    const v = at({ clock: 10, resetCount: 4, restartCount: 3, safe: 1 });
    expect(v.valid).toBe(true);
    expect(v.clock).toEqual({ clock: 5000, resetCount: 3, restartCount: 2, safe: 1 });
  });

  it('the initial state needs clock > 0; skipClockCheck ignores the clock', () => {
    const q = signedQuote(ak.privateKey, 'sha256', { clockInfo: { clock: 0, resetCount: 0, restartCount: 0, safe: 0 } }, pcrs).quote;
    expect(verifyQuote({ quote: q, ak: ak.akTpm, nonce: NONCE, hashAlg: 'sha256' }).valid).toBe(false);
    expect(verifyQuote({ quote: q, ak: ak.akTpm, nonce: NONCE, hashAlg: 'sha256', skipClockCheck: true }).valid).toBe(true);
  });
});

describe('PCR checks', () => {
  const ak = testAk('rsa2048');
  const q = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg: 'sha256', nonce: NONCE, pcrs: agentPcrs('sha256', [2, 10, 16]) });
  const base: VerifyQuoteOptions = { quote: q.quote, ak: ak.akTpm, nonce: NONCE, hashAlg: 'sha256', dataPubkeyPem: AGENT_PEM };
  const wrong = 'ff'.repeat(32);

  it('events come in Keylime order: PCR 16, allowlist mismatches, missing PCRs', () => {
    const otherPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const verdict = verifyQuote({ ...base, dataPubkeyPem: otherPem, tpmPolicy: buildTpmPolicy({ 2: wrong, 5: wrong }) });
    expect(verdict.failures.map((f) => f.eventId)).toEqual([
      'pcr_validation.invalid_pcr_16',
      'pcr_validation.invalid_pcr_2',
      'pcr_validation.missing_pcrs',
    ]);
    expect(verdict.failures[0]!.context).toEqual({ got: expectedDataPcr(AGENT_PEM, 'sha256'), expected: expectedDataPcr(otherPem, 'sha256') });
    expect(verdict.pcrs[2]).toBe(pcrValue('sha256', 'pcr2').toString('hex'));
  });

  it('PCR 16 missing from the quote is missing_pcr_16', () => {
    const no16 = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg: 'sha256', nonce: NONCE, pcrs: agentPcrs('sha256', [2]) });
    expect(verifyQuote({ ...base, quote: no16.quote }).failures).toEqual([
      { eventId: 'pcr_validation.missing_pcr_16', recoverable: true, context: { message: 'Data PCR 16 is missing in quote, but is required' } },
    ]);
  });

  it('PCR 10 is never compared with the tpm_policy; pcrsCheckedElsewhere leaves others out; a wire policy string works', () => {
    const wire = `{"10": ["${wrong}"], "2": ["${wrong}"], "mask": "0x404"}`;
    expect(verifyQuote({ ...base, tpmPolicy: wire }).failures.map((f) => f.eventId)).toEqual(['pcr_validation.invalid_pcr_2']);
    expect(verifyQuote({ ...base, tpmPolicy: wire, pcrsCheckedElsewhere: [2] }).failures).toEqual([]);
  });

  it('skipPcrChecks and no dataPubkeyPem skip what they say', () => {
    const policy = buildTpmPolicy({ 2: wrong });
    expect(verifyQuote({ ...base, dataPubkeyPem: 'x', tpmPolicy: policy, skipPcrChecks: true }).valid).toBe(true);
    const noPem = { ...base, dataPubkeyPem: undefined };
    expect(verifyQuote(noPem).valid).toBe(true);
  });

  it('a pre-parsed AK works from a KeyObject made from the PEM too', () => {
    expect(verifyQuote({ ...base, ak: signingKeyFromPem(createPublicKey(ak.pem).export({ type: 'spki', format: 'pem' }).toString()) }).valid).toBe(true);
  });
});
