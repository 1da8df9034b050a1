import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import {
  buildTpmPolicy,
  decodePcrsBlob,
  decodeSignature,
  encodePcrsBlob,
  expectedDataPcr,
  formatQuoteString,
  hashByName,
  parseTpm2bPublic,
  randomPassword,
  signatureMatches,
  verifyQuote,
  type HashName,
  type QuoteParts,
} from '../../../src/quote/index.js';
import { flush, nonceHex, tpm2, tpm2Status } from './tpm2.js';

interface AkConfig {
  id: string;
  alg: 'rsa' | 'ecc';
  hash: HashName;
  scheme: 'rsassa' | 'ecdsa' | 'rsapss';
}

const AKS: AkConfig[] = [
  { id: 'rsa-sha256', alg: 'rsa', hash: 'sha256', scheme: 'rsassa' },
  { id: 'rsa-sha1', alg: 'rsa', hash: 'sha1', scheme: 'rsassa' },
  { id: 'ecc-sha256', alg: 'ecc', hash: 'sha256', scheme: 'ecdsa' },
  { id: 'ecc-sha1', alg: 'ecc', hash: 'sha1', scheme: 'ecdsa' },
];

/** 1, 3, 11 and 24 PCRs: the data PCR alone, Keylime's doc mask, the benchmark set, everything. */
const PCR_SETS: number[][] = [[16], [15, 16, 22], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16], [...Array(24).keys()]];

const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

interface Quoted {
  ak: AkConfig;
  pcrs: number[];
  nonce: string;
  parts: QuoteParts;
  files: { msg: string; sig: string; pcrs: string };
}

describe('quotes made by swtpm + tpm2_quote', () => {
  let tpm: Swtpm;
  let dir: string;
  const quotes: Quoted[] = [];
  const akTss = new Map<string, Buffer>();

  const checkquote = (ak: AkConfig, files: Quoted['files'], nonce: string) =>
    tpm2Status(tpm, dir, 'tpm2_checkquote', [
      '-u', `${ak.id}.tss`, '-m', files.msg, '-s', files.sig, '-f', files.pcrs, '-g', ak.hash, '-q', nonceHex(nonce),
    ]).status;

  const quote = (ak: AkConfig, pcrs: number[], tag: string, nonce = randomPassword(20)): Quoted => {
    const files = { msg: `${tag}.msg`, sig: `${tag}.sig`, pcrs: `${tag}.pcrs` };
    tpm2(tpm, dir, 'tpm2_quote', [
      '-c', `${ak.id}.ctx`, '-l', `${ak.hash}:${pcrs.join(',')}`, '-q', nonceHex(nonce),
      '-m', files.msg, '-s', files.sig, '-o', files.pcrs, '-g', ak.hash, '--scheme', ak.scheme,
    ]);
    flush(tpm, dir);
    const parts = {
      attest: readFileSync(join(dir, files.msg)),
      signature: readFileSync(join(dir, files.sig)),
      pcrs: readFileSync(join(dir, files.pcrs)),
    };
    return { ak, pcrs, nonce, parts, files };
  };

  beforeAll(async () => {
    tpm = await startSwtpm();
    dir = mkdtempSync(join(tmpdir(), 'kts-quote-'));
    tpm2(tpm, dir, 'tpm2_createek', ['-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub']);
    flush(tpm, dir);
    for (const ak of [...AKS, { id: 'rsa-pss', alg: 'rsa', hash: 'sha256', scheme: 'rsapss' } as AkConfig]) {
      tpm2(tpm, dir, 'tpm2_createak', [
        '-C', 'ek.ctx', '-c', `${ak.id}.ctx`, '-G', ak.alg, '-g', ak.hash, '-s', ak.scheme,
        '-u', `${ak.id}.tss`, '-f', 'tss', '-n', `${ak.id}.name`, '-r', `${ak.id}.priv`,
      ]);
      flush(tpm, dir);
      akTss.set(ak.id, readFileSync(join(dir, `${ak.id}.tss`)));
    }
    // Agent-style PCR 16 in both banks and distinct values in PCRs 0-15 and 23 (17-22 need other localities).
    tpm2(tpm, dir, 'tpm2_pcrreset', ['16']);
    const extend = (pcr: number, data: Buffer | string) =>
      `${pcr}:sha1=${createHash('sha1').update(data).digest('hex')},sha256=${createHash('sha256').update(data).digest('hex')}`;
    tpm2(tpm, dir, 'tpm2_pcrextend', [
      extend(16, PEM),
      ...[...Array(24).keys()].filter((p) => p < 16 || p === 23).map((p) => extend(p, randomBytes(16))),
    ]);
    for (const ak of AKS) {
      for (const pcrs of PCR_SETS) quotes.push(quote(ak, pcrs, `${ak.id}-${pcrs.length}`));
    }
  }, 120_000);

  afterAll(async () => {
    await tpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('our TPM names equal the ones tpm2_createak printed', () => {
    for (const ak of AKS) {
      expect(parseTpm2bPublic(akTss.get(ak.id)!).name).toEqual(readFileSync(join(dir, `${ak.id}.name`)));
    }
  });

  it('every quote verifies, with PCR 16 and a tpm_policy, and tpm2_checkquote agrees', () => {
    expect(quotes).toHaveLength(AKS.length * PCR_SETS.length);
    for (const q of quotes) {
      const other = q.pcrs.filter((p) => p !== 16 && p !== 10);
      const policy = other.length ? buildTpmPolicy(undefined) : undefined;
      const verdict = verifyQuote({
        quote: formatQuoteString(q.parts),
        ak: akTss.get(q.ak.id)!.toString('base64'),
        nonce: q.nonce,
        hashAlg: q.ak.hash,
        dataPubkeyPem: PEM,
        tpmPolicy: policy,
      });
      expect(verdict.failures, `${q.ak.id} ${q.pcrs.join(',')}`).toEqual([]);
      expect(verdict.valid).toBe(true);
      expect(Object.keys(verdict.pcrs).map(Number)).toEqual(q.pcrs);
      expect(verdict.pcrs[16]).toBe(expectedDataPcr(PEM, q.ak.hash));
      expect(verdict.clock.clock).toBeGreaterThan(0);
      expect(checkquote(q.ak, q.files, q.nonce)).toBe(0);
    }
  });

  it('a tpm_policy built from the quoted values passes; one wrong value is invalid_pcr_N', () => {
    const q = quotes.find((x) => x.ak.id === 'rsa-sha256' && x.pcrs.length === 11)!;
    const base = { quote: q.parts, ak: akTss.get(q.ak.id)!, nonce: q.nonce, hashAlg: q.ak.hash, dataPubkeyPem: PEM };
    const pcrs = verifyQuote(base).pcrs;
    const good = Object.fromEntries([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((p) => [String(p), [pcrs[p]!.toUpperCase(), 'ab'.repeat(32)]]));
    expect(verifyQuote({ ...base, tpmPolicy: buildTpmPolicy(good) }).failures).toEqual([]);
    const bad = buildTpmPolicy({ ...good, 7: 'cd'.repeat(32) });
    const verdict = verifyQuote({ ...base, tpmPolicy: bad });
    expect(verdict.valid).toBe(false);
    expect(verdict.failures.map((f) => f.eventId)).toEqual(['pcr_validation.invalid_pcr_7']);
    expect(verdict.failures[0]!.context).toEqual({ context: 'PCR value is not in allowlist', got: pcrs[7], expected: ['cd'.repeat(32)] });
    expect(verdict.failures[0]!.recoverable).toBe(true);
  });

  it('a policy PCR that was not quoted is missing_pcrs', () => {
    const q = quotes.find((x) => x.ak.id === 'ecc-sha256' && x.pcrs.length === 3)!;
    const verdict = verifyQuote({
      quote: q.parts, ak: akTss.get(q.ak.id)!, nonce: q.nonce, hashAlg: q.ak.hash, dataPubkeyPem: PEM,
      tpmPolicy: buildTpmPolicy({ 4: '00'.repeat(32) }),
    });
    expect(verdict.failures.map((f) => f.eventId)).toEqual(['pcr_validation.missing_pcrs']);
    expect(verdict.failures[0]!.context).toEqual({ context: 'PCRs are missing in quote', data: [4] });
  });

  it('PCR 16 that does not bind the given public key is invalid_pcr_16', () => {
    const q = quotes.find((x) => x.ak.id === 'rsa-sha1' && x.pcrs.length === 1)!;
    const otherPem = PEM.replace('\n-----END', 'X\n-----END');
    const verdict = verifyQuote({ quote: q.parts, ak: akTss.get(q.ak.id)!, nonce: q.nonce, hashAlg: 'sha1', dataPubkeyPem: otherPem });
    expect(verdict.failures.map((f) => f.eventId)).toEqual(['pcr_validation.invalid_pcr_16']);
    expect(verdict.failures[0]!.context).toEqual({ got: expectedDataPcr(PEM, 'sha1'), expected: expectedDataPcr(otherPem, 'sha1') });
  });

  it('tampering is caught by us and by tpm2_checkquote alike', () => {
    for (const ak of AKS) {
      const q = quotes.find((x) => x.ak.id === ak.id && x.pcrs.length === 11)!;
      const flip = (b: Buffer, at: number) => {
        const c = Buffer.from(b);
        c[at]! ^= 0x01;
        return c;
      };
      const digestOffset = q.parts.attest.length - 1;
      const cases: Array<[string, QuoteParts, string]> = [
        ['attest', { ...q.parts, attest: flip(q.parts.attest, digestOffset) }, 'Invalid quote signature'],
        ['signature', { ...q.parts, signature: flip(q.parts.signature, q.parts.signature.length - 5) }, 'Invalid quote signature'],
        ['pcrs', { ...q.parts, pcrs: flip(q.parts.pcrs, 136 + 4 + 2 + 3) }, 'The digest used for quoting is different than the one that was calculated'],
      ];
      for (const [what, parts, error] of cases) {
        const verdict = verifyQuote({ quote: parts, ak: akTss.get(ak.id)!, nonce: q.nonce, hashAlg: ak.hash, dataPubkeyPem: PEM });
        expect(verdict.valid, `${ak.id} ${what}`).toBe(false);
        expect(verdict.failures).toEqual([
          { eventId: 'qoute_validation.quote_validation', recoverable: false, context: { message: 'Quote data validation', error } },
        ]);
        const files = { msg: `t-${what}.msg`, sig: `t-${what}.sig`, pcrs: `t-${what}.pcrs` };
        writeFileSync(join(dir, files.msg), parts.attest);
        writeFileSync(join(dir, files.sig), parts.signature);
        writeFileSync(join(dir, files.pcrs), parts.pcrs);
        expect(checkquote(ak, files, q.nonce), `${ak.id} ${what} checkquote`).not.toBe(0);
      }
    }
  });

  it('a wrong nonce, another AK or another hash_alg is quote_validation', () => {
    const q = quotes.find((x) => x.ak.id === 'ecc-sha1' && x.pcrs.length === 3)!;
    const base = { quote: q.parts, ak: akTss.get(q.ak.id)!, nonce: q.nonce, hashAlg: q.ak.hash };
    const error = (o: Partial<typeof base>) => verifyQuote({ ...base, ...o }).failures.map((f) => [f.eventId, f.context.error]);
    expect(error({ nonce: q.nonce + 'x' })).toEqual([['qoute_validation.quote_validation', 'The nonce from the attestation differs from the expected nonce']]);
    expect(checkquote(q.ak, q.files, q.nonce + 'x')).not.toBe(0);
    expect(error({ ak: akTss.get('ecc-sha256')! })).toEqual([['qoute_validation.quote_validation', 'Invalid quote signature']]);
    expect(error({ ak: akTss.get('rsa-sha1')! })).toEqual([
      ['qoute_validation.quote_validation', "Unsupported quote signature algorithm '0x0018' for RSA keys"],
    ]);
    expect(error({ hashAlg: 'sha256' })).toEqual([['qoute_validation.quote_validation', 'Quote was expected to use sha256 but used sha1 instead']]);
  });

  it('the clock must advance between quotes and never go back', () => {
    const [a, b] = quotes.filter((x) => x.ak.id === 'rsa-sha256');
    const base = (q: Quoted) => ({ quote: q.parts, ak: akTss.get(q.ak.id)!, nonce: q.nonce, hashAlg: q.ak.hash });
    const first = verifyQuote(base(a!));
    const second = verifyQuote({ ...base(b!), lastClock: first.clock });
    expect(second.valid).toBe(true);
    expect(second.clock.clock).toBeGreaterThan(first.clock.clock);
    const backwards = verifyQuote({ ...base(a!), lastClock: second.clock });
    expect(backwards.failures).toEqual([
      {
        eventId: 'qoute_validation.quote_validation',
        recoverable: false,
        context: {
          message: 'Validation of clockinfo from quote using tpm2-tools',
          data: 'clock timestamp issued by TPM did not increase between two consecutive quotes',
        },
      },
    ]);
    expect(backwards.clock).toEqual(second.clock);
  });

  it('an RSAPSS quote is refused as Keylime does, though its signature is sound', () => {
    const pss: AkConfig = { id: 'rsa-pss', alg: 'rsa', hash: 'sha256', scheme: 'rsapss' };
    const q = quote(pss, [16], 'pss');
    const verdict = verifyQuote({ quote: q.parts, ak: akTss.get('rsa-pss')!, nonce: q.nonce, hashAlg: 'sha256' });
    expect(verdict.failures.map((f) => f.context.error)).toEqual(["Unsupported quote signature algorithm '0x0016' for RSA keys"]);
    // The signature itself is sound: a PSS-aware check accepts it (salt length = digest size, as TPMs sign).
    expect(signatureMatches(parseTpm2bPublic(akTss.get('rsa-pss')!), decodeSignature(q.parts.signature), q.parts.attest)).toBe(true);
  });

  it('our pcrs writer reproduces tpm2_quote pcrs files byte for byte', () => {
    for (const q of quotes) {
      const blob = decodePcrsBlob(q.parts.pcrs);
      const values = new Map(q.pcrs.map((p, i) => [p, blob.values[i]!]));
      expect(encodePcrsBlob(hashByName(q.ak.hash)!.id, values).equals(q.parts.pcrs), `${q.ak.id} ${q.pcrs.length}`).toBe(true);
    }
  });
});
