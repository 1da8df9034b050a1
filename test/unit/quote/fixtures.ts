import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  TPM_GENERATED_VALUE,
  TPM_ST_ATTEST_QUOTE,
  encodeAttest,
  encodePcrsBlob,
  encodeSignature,
  formatQuoteString,
  hashByName,
  selectOf,
  signLikeTpm,
  softwareAkPublic,
  type HashName,
  type TpmsAttest,
} from '../../../src/quote/index.js';

export interface TestAk {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Keylime's base64 aik_tpm. */
  akTpm: string;
  pem: string;
}

const cache = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

/** Keys are cached per type: RSA-4096 generation is slow. */
export function testAk(type: 'rsa2048' | 'rsa3072' | 'rsa4096' | 'P-256' | 'P-384' | 'P-521', hashAlg: HashName = 'sha256'): TestAk {
  let pair = cache.get(type);
  if (!pair) {
    pair = type.startsWith('rsa')
      ? generateKeyPairSync('rsa', { modulusLength: Number(type.slice(3)) })
      : generateKeyPairSync('ec', { namedCurve: type });
    cache.set(type, pair);
  }
  return {
    ...pair,
    akTpm: softwareAkPublic(pair.publicKey, hashAlg).toString('base64'),
    pem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The agent's NK PEM, used for PCR 16. */
export const AGENT_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

export function pcrValue(hashAlg: HashName, seed: string): Buffer {
  return createHash(hashAlg).update(seed).digest();
}

/** PCR 16 as the agent leaves it, plus distinct values for the other indices. */
export function agentPcrs(hashAlg: HashName, indices: number[], pem = AGENT_PEM): Map<number, Buffer> {
  const size = hashByName(hashAlg)!.size;
  return new Map(
    indices.map((i) => {
      if (i !== 16) return [i, pcrValue(hashAlg, `pcr${i}`)];
      const buf = Buffer.alloc(2 * size);
      createHash(hashAlg).update(pem).digest().copy(buf, size);
      return [i, createHash(hashAlg).update(buf).digest()];
    }),
  );
}

/**
 * A quote from an arbitrary (possibly wrong) TPMS_ATTEST: lets tests sign structures a
 * TPM would never produce, so checks after the signature can be exercised.
 */
export function signedQuote(
  privateKey: KeyObject,
  hashAlg: HashName,
  attest: Partial<TpmsAttest> & { pcrDigest?: Buffer },
  pcrs: Map<number, Buffer>,
): { quote: string; attest: Buffer; signature: Buffer; pcrs: Buffer } {
  const h = hashByName(hashAlg)!;
  const sorted = [...pcrs.entries()].sort((a, b) => a[0] - b[0]);
  const digest = attest.pcrDigest ?? createHash(hashAlg).update(Buffer.concat(sorted.map((e) => e[1]))).digest();
  const full: TpmsAttest = {
    magic: TPM_GENERATED_VALUE,
    type: TPM_ST_ATTEST_QUOTE,
    qualifiedSigner: Buffer.concat([Buffer.from([0, 0x0b]), Buffer.alloc(32, 7)]),
    extraData: Buffer.from('abcdefghij0123456789'),
    clockInfo: { clock: 5000, resetCount: 1, restartCount: 0, safe: 1 },
    firmwareVersion: 0x2019102300163636n,
    attested: { kind: 'quote', pcrSelections: [{ hashAlg: h.id, select: selectOf(sorted.map((e) => e[0])) }], pcrDigest: digest },
    ...attest,
  };
  const attestBytes = encodeAttest(full);
  const scheme = privateKey.asymmetricKeyType === 'rsa' ? 'rsassa' : 'ecdsa';
  const signature = encodeSignature(signLikeTpm(privateKey, scheme, h.id, attestBytes));
  const blob = encodePcrsBlob(h.id, pcrs);
  return { attest: attestBytes, signature, pcrs: blob, quote: formatQuoteString({ attest: attestBytes, signature, pcrs: blob }) };
}
