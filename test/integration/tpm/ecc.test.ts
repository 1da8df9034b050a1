import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tpm, AK_ATTRIBUTES } from '../../../src/tpm/index.js';
import { checkQuote, makeCredential, swtpmForSuite, transientHandles } from './helpers.js';

describe('Tpm with an ECC EK and an ECDSA AK', () => {
  const suite = swtpmForSuite();

  it('creates, activates and quotes; tpm2_checkquote verifies the ECDSA signature', async () => {
    const tpm = new Tpm({ tcti: suite.swtpm().tcti, workDir: join(suite.dir(), 'tpm') });
    const ek = await tpm.createEk('ecc');
    expect(await tpm.readEkCertificate('rsa')).toBeNull();
    const ak = await tpm.createAk({ hashAlg: 'sha256', signAlg: 'ecdsa' });
    expect(ak.akPublic.readUInt16BE(2)).toBe(0x0023);
    expect(ak.akPublic.readUInt32BE(6)).toBe(AK_ATTRIBUTES);

    const secret = Buffer.from('0123456789abcdefghijABCDEFGHIJKL');
    expect((await tpm.activateCredential(makeCredential(ek.ekPublic, ak.akName, secret))).equals(secret)).toBe(true);

    const dataDigest = createHash('sha256').update('nk').digest();
    const quote = await tpm.quoteWithDataPcr({ nonce: 'eccNonce0123456789ab', bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7], dataDigest });
    expect(quote.signature.subarray(0, 4).toString('hex')).toBe('0018000b');
    expect(checkQuote(ak.akPublic, quote, 'eccNonce0123456789ab').status).toBe(0);
    expect(transientHandles(suite.swtpm())).toEqual([]);
  });

  it('quotes the sha1 bank with a sha1 AK', async () => {
    const tpm = new Tpm({ tcti: suite.swtpm().tcti, workDir: join(suite.dir(), 'sha1') });
    await tpm.createEk('ecc');
    const ak = await tpm.createAk({ hashAlg: 'sha1', signAlg: 'ecdsa' });
    const dataDigest = createHash('sha1').update('nk').digest();
    const quote = await tpm.quoteWithDataPcr({ nonce: 'sha1Nonce', bank: 'sha1', pcrs: [10], dataDigest });
    expect(quote.pcrValues.get(16)!.equals(createHash('sha1').update(Buffer.alloc(20)).update(dataDigest).digest())).toBe(true);
    expect(checkQuote(ak.akPublic, quote, 'sha1Nonce').status).toBe(0);
  });

  it('refuses a signing scheme that does not fit the key', async () => {
    const tpm = new Tpm({ tcti: suite.swtpm().tcti, workDir: join(suite.dir(), 'bad') });
    await tpm.createEk('ecc');
    await expect(tpm.createAk({ signAlg: 'rsassa' })).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
