import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeylimeError, ParseError } from '../../../src/errors.js';
import {
  EK_LOW_ATTRIBUTES,
  EK_LOW_AUTH_POLICY,
  TPM_ALG,
  buildTpmPolicy,
  decodeAttest,
  decodePcrsBlob,
  decodeSignature,
  encodeTpm2bPublic,
  formatQuoteString,
  makeCredential,
  parseCredentialBlob,
  parseQuoteString,
  parseTpm2bPublic,
  parseTpmPolicy,
  publicAreaFromKey,
  signSoftwareQuote,
  verifyQuote,
  type QuoteParts,
} from '../../../src/quote/index.js';
import { AGENT_PEM, agentPcrs, testAk } from './fixtures.js';
import { seededRandom } from '../../support/prng.js';


function mutate(input: Buffer, rand: () => number): Buffer {
  let b = Buffer.from(input);
  const ops = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < ops; i++) {
    const at = Math.floor(rand() * Math.max(1, b.length));
    const op = Math.floor(rand() * 6);
    if (op === 0 && b.length) b[at] = b[at]! ^ (1 << Math.floor(rand() * 8));
    else if (op === 1 && b.length) b[at] = Math.floor(rand() * 256);
    else if (op === 2 && b.length) b[at] = rand() < 0.5 ? 0 : 0xff;
    else if (op === 3) b = Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), b.subarray(at)]);
    else if (op === 4) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else b = b.subarray(0, at);
  }
  return b;
}

/** Calls fn; passes when it returns or throws one of the allowed typed errors. */
function expectTyped(fn: () => unknown, allowed: Array<new (...a: never[]) => Error> = [ParseError]): 'ok' | 'error' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!allowed.some((cls) => e instanceof cls)) throw new Error(`unexpected ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack}`);
    return 'error';
  }
}

const NONCE = 'abcdefghij0123456789';
const rsa = testAk('rsa2048');
const ecc = testAk('P-384');
const rsaQuote = signSoftwareQuote({ privateKey: rsa.privateKey, hashAlg: 'sha256', nonce: NONCE, pcrs: agentPcrs('sha256', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16]) });
const eccQuote = signSoftwareQuote({ privateKey: ecc.privateKey, hashAlg: 'sha384', nonce: NONCE, pcrs: agentPcrs('sha384', [...Array(24).keys()]) });
const rsaEk = encodeTpm2bPublic(
  publicAreaFromKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, {
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: EK_LOW_ATTRIBUTES,
    authPolicy: EK_LOW_AUTH_POLICY,
    symmetric: { alg: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
  }),
);
const eccEk = encodeTpm2bPublic(
  publicAreaFromKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, {
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: EK_LOW_ATTRIBUTES,
    authPolicy: EK_LOW_AUTH_POLICY,
    symmetric: { alg: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
  }),
);
const akName = parseTpm2bPublic(Buffer.from(rsa.akTpm, 'base64')).name;
const credential = makeCredential(rsaEk, akName, Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'));

const decoders: Array<[string, Buffer, (b: Buffer) => unknown]> = [
  ['TPMS_ATTEST (RSA quote)', rsaQuote.attest, decodeAttest],
  ['TPMS_ATTEST (24-PCR quote)', eccQuote.attest, decodeAttest],
  ['TPMT_SIGNATURE rsassa', rsaQuote.signature, decodeSignature],
  ['TPMT_SIGNATURE ecdsa', eccQuote.signature, decodeSignature],
  ['pcrs file (11 PCRs)', rsaQuote.pcrs, decodePcrsBlob],
  ['pcrs file (24 PCRs)', eccQuote.pcrs, decodePcrsBlob],
  ['TPM2B_PUBLIC RSA AK', Buffer.from(rsa.akTpm, 'base64'), parseTpm2bPublic],
  ['TPM2B_PUBLIC ECC AK', Buffer.from(ecc.akTpm, 'base64'), parseTpm2bPublic],
  ['TPM2B_PUBLIC ECC EK', eccEk, parseTpm2bPublic],
  ['credential blob', credential, parseCredentialBlob],
];

describe('decoders never throw anything but ParseError', () => {
  for (const [name, valid, decode] of decoders) {
    it(`${name}: the valid bytes decode, every proper prefix is a ParseError`, () => {
      expect(expectTyped(() => decode(valid))).toBe('ok');
      for (let n = 0; n < valid.length; n++) {
        expect(expectTyped(() => decode(valid.subarray(0, n))), `prefix ${n}`).toBe('error');
      }
    });

    it(`${name}: 1,500 random mutations give a value or a ParseError`, () => {
      const rand = seededRandom(name.length * 7919);
      for (let i = 0; i < 1500; i++) expectTyped(() => decode(mutate(valid, rand)));
    });
  }

  it('random bytes of every small length', () => {
    const rand = seededRandom(42);
    for (let n = 0; n < 600; n++) {
      const b = Buffer.from(Array.from({ length: n % 300 }, () => Math.floor(rand() * 256)));
      for (const [, , decode] of decoders) expectTyped(() => decode(b));
    }
  });
});

describe('verifyQuote on mutated quotes: a verdict or a ParseError, never a false accept', () => {
  const cases: Array<[string, QuoteParts, string, string]> = [
    ['RSA', rsaQuote, rsa.akTpm, 'sha256'],
    ['ECC', eccQuote, ecc.akTpm, 'sha384'],
  ];
  for (const [name, parts, ak, hashAlg] of cases) {
    it(`${name}: 3,000 mutations of the three parts`, () => {
      const rand = seededRandom(name === 'RSA' ? 1 : 2);
      const options = { ak, nonce: NONCE, hashAlg, dataPubkeyPem: AGENT_PEM, tpmPolicy: buildTpmPolicy() };
      const original = verifyQuote({ quote: parts, ...options });
      expect(original.valid).toBe(true);
      let verdicts = 0;
      for (let i = 0; i < 3000; i++) {
        const which = (['attest', 'signature', 'pcrs'] as const)[i % 3]!;
        const mutated = { ...parts, [which]: mutate(parts[which], rand) };
        try {
          const v = verifyQuote({ quote: mutated, ...options });
          verdicts++;
          // A real change may only be accepted when it left every attested fact as it was.
          if (v.valid && !mutated[which].equals(parts[which])) {
            expect(which).toBe('pcrs');
            expect(v.pcrs).toEqual(original.pcrs);
          }
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
        }
      }
      expect(verdicts).toBeGreaterThan(100);
    });

    it(`${name}: every prefix of the quote string, and 1,000 mutations of its text`, () => {
      const text = formatQuoteString(parts);
      const options = { ak, nonce: NONCE, hashAlg };
      for (let n = 0; n < text.length; n += 3) expectTyped(() => verifyQuote({ quote: text.slice(0, n), ...options }));
      const rand = seededRandom(99);
      const alphabet = 'ABCabc019+/=:r!';
      for (let i = 0; i < 1000; i++) {
        const at = Math.floor(rand() * text.length);
        const s = text.slice(0, at) + alphabet[Math.floor(rand() * alphabet.length)] + text.slice(at + 1);
        expectTyped(() => verifyQuote({ quote: s, ...options }));
      }
    });
  }

  it('mutated AKs: 1,000 per key type', () => {
    const rand = seededRandom(7);
    for (const [ak, q, hashAlg] of [[rsa.akTpm, rsaQuote, 'sha256'], [ecc.akTpm, eccQuote, 'sha384']] as const) {
      for (let i = 0; i < 1000; i++) {
        const bad = mutate(Buffer.from(ak, 'base64'), rand);
        expectTyped(() => verifyQuote({ quote: q, ak: bad, nonce: NONCE, hashAlg }));
      }
    }
  });
});

describe('other parsers of untrusted text and keys', () => {
  it('makeCredential on 1,000 mutated EKs: a blob, a ParseError or an input error', () => {
    const rand = seededRandom(11);
    for (let i = 0; i < 1000; i++) {
      const ek = mutate(i % 2 ? rsaEk : eccEk, rand);
      expectTyped(() => makeCredential(ek, akName, Buffer.from('secret')), [ParseError, KeylimeError]);
    }
  });

  it('tpm_policy text: 2,000 mutations build, parse or fail with typed errors', () => {
    const wire = buildTpmPolicy(`{"15": ["${'ab'.repeat(32)}"], "22": "${'CD'.repeat(20)}"}`, { runtimePolicy: true }).json;
    const rand = seededRandom(5);
    for (let i = 0; i < 2000; i++) {
      const at = Math.floor(rand() * wire.length);
      const s = wire.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + wire.slice(at + (rand() < 0.5 ? 1 : 0));
      expectTyped(() => parseTpmPolicy(s));
      expectTyped(() => buildTpmPolicy(s), [ParseError, KeylimeError]);
    }
  });

  it('quote strings that are not quotes', () => {
    for (const s of ['r', 'r::', 'r:::', 'rA===:B:C', 'r' + 'A'.repeat(10_001), ':::', 'r\u0000:\u0000:\u0000']) {
      expectTyped(() => parseQuoteString(s));
    }
  });
});
