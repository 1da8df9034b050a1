import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeylimeError, TpmError } from '../../../src/errors.js';
import { AK_ATTRIBUTES, DATA_PCR, Tpm, toKeylimeQuote, type AkKey, type EkInfo } from '../../../src/tpm/index.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { checkQuote, makeCredential, scratchDir, tpm2, transientHandles } from './helpers.js';

/** Minimal TPM2B_PUBLIC reading, independent of src/: offset 2 type, 4 nameAlg, 6 attributes. */
function publicHeader(tpm2b: Buffer) {
  return { type: tpm2b.readUInt16BE(2), nameAlg: tpm2b.readUInt16BE(4), attributes: tpm2b.readUInt32BE(6) };
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();
const nonce = () => randomBytes(15).toString('base64url').replace(/[-_]/g, 'x').slice(0, 20);

describe('Tpm on a real swtpm (RSA EK, RSA AK)', () => {
  let swtpm: Swtpm;
  let tpm: Tpm;
  let workDir: string;
  let ek: EkInfo;
  let ak: AkKey;

  beforeAll(async () => {
    swtpm = await startSwtpm();
    workDir = scratchDir();
    rmSync(workDir, { recursive: true });
    tpm = new Tpm({ tcti: swtpm.tcti, workDir: `${workDir}/tpm` });
    ek = await tpm.createEk('rsa');
    ak = await tpm.createAk({ hashAlg: 'sha256', signAlg: 'rsassa' });
  });

  afterAll(async () => {
    await swtpm?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('keeps its files in a private 0700 directory', () => {
    expect(statSync(`${workDir}/tpm`).mode & 0o777).toBe(0o700);
  });

  it('derives the same EK every time, for RSA and ECC', async () => {
    expect(publicHeader(ek.ekPublic).type).toBe(0x0001);
    expect((await tpm.createEk('rsa')).ekPublic.equals(ek.ekPublic)).toBe(true);
    const ecc1 = await tpm.createEk('ecc');
    const ecc2 = await tpm.createEk('ecc');
    expect(publicHeader(ecc1.ekPublic).type).toBe(0x0023);
    expect(ecc1.ekPublic.equals(ecc2.ekPublic)).toBe(true);
    // Back to the RSA EK the AK lives under.
    await tpm.createEk('rsa');
    // swtpm_setup persisted the same RSA EK at 0x81010001.
    const persisted = tpm2(swtpm, 'tpm2_readpublic', ['-c', '0x81010001']);
    expect(persisted).toContain(`name: ${ek.ekName.toString('hex')}`);
    expect(transientHandles(swtpm)).toEqual([]);
  });

  it('reads the RSA EK certificate from NV, trimmed to its DER length, chaining to the swtpm CA', async () => {
    const der = await tpm.readEkCertificate('rsa');
    expect(der).not.toBeNull();
    const cert = new X509Certificate(der!);
    expect(cert.raw.equals(der!)).toBe(true);
    const [root, intermediate] = swtpm.caCerts.map((pem) => new X509Certificate(pem)) as [X509Certificate, X509Certificate];
    expect(cert.verify(intermediate.publicKey)).toBe(true);
    expect(intermediate.verify(root.publicKey)).toBe(true);
    // The certificate certifies this EK: same RSA modulus.
    const modulus = Buffer.from(cert.publicKey.export({ format: 'jwk' }).n!, 'base64url');
    expect(ek.ekPublic.subarray(ek.ekPublic.length - 256).equals(modulus)).toBe(true);
  });

  it('answers null for the ECC EK certificate this swtpm does not have (NV 0x1c0000a)', async () => {
    expect(await tpm.readEkCertificate('ecc')).toBeNull();
  });

  it('creates an AK with Keylime attributes 0x00050072, persisted, and the name of its public area', () => {
    const header = publicHeader(ak.akPublic);
    expect(header.type).toBe(0x0001);
    expect(header.nameAlg).toBe(0x000b);
    expect(header.attributes).toBe(AK_ATTRIBUTES);
    expect(ak.akPublic.readUInt16BE(0)).toBe(ak.akPublic.length - 2);
    expect(ak.akName.equals(Buffer.concat([Buffer.from([0, 0x0b]), sha256(ak.akPublic.subarray(2))]))).toBe(true);
    expect(ak.persistentHandle).toBe(0x81000100);
    expect(tpm2(swtpm, 'tpm2_readpublic', ['-c', '0x81000100'])).toContain(`name: ${ak.akName.toString('hex')}`);
    expect(ak.akPrivate.length).toBeGreaterThan(100);
  });

  it('quotes that tpm2_checkquote verifies, with the nonce as qualifying data', async () => {
    const n = nonce();
    const quote = await tpm.quote({ nonce: n, bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
    expect(quote.attest.readUInt32BE(0)).toBe(0xff544347);
    expect(quote.attest.readUInt16BE(4)).toBe(0x8018);
    expect(quote.signature.subarray(0, 6).toString('hex')).toBe('0014000b0100');
    expect(quote.signature.length).toBe(262);
    expect(quote.pcrsBlob.length).toBe(136 + 2 * 532);
    expect([...quote.pcrValues.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(checkQuote(ak.akPublic, quote, n).status).toBe(0);
    expect(checkQuote(ak.akPublic, quote, 'someOtherNonce').status).not.toBe(0);
    expect(toKeylimeQuote(quote)).toMatch(/^r\/1RDR4AY[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  });

  it('binds the data digest into PCR 16 and quotes it with one tpm2-tools process in steady state', async () => {
    const nk = '-----BEGIN PUBLIC KEY-----\nnot really a key\n-----END PUBLIC KEY-----\n';
    const dataDigest = sha256(nk);
    const expected16 = sha256(Buffer.concat([Buffer.alloc(32), dataDigest]));
    const pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const first = await tpm.quoteWithDataPcr({ nonce: 'firstNonce', bank: 'sha256', pcrs, dataDigest });
    expect(first.pcrValues.get(DATA_PCR)!.equals(expected16)).toBe(true);
    expect([...first.pcrValues.keys()]).toEqual([...pcrs, 16]);
    expect(checkQuote(ak.akPublic, first, 'firstNonce').status).toBe(0);

    const before = tpm.processCount;
    const second = await tpm.quoteWithDataPcr({ nonce: 'secondNonce', bank: 'sha256', pcrs, dataDigest });
    expect(tpm.processCount - before).toBe(1);
    expect(second.pcrValues.get(DATA_PCR)!.equals(expected16)).toBe(true);
    expect(checkQuote(ak.akPublic, second, 'secondNonce').status).toBe(0);

    // Another program extends PCR 16 behind our back: the quote still shows exactly H(0 || d).
    tpm2(swtpm, 'tpm2_pcrextend', [`16:sha256=${'ab'.repeat(32)}`]);
    const third = await tpm.quoteWithDataPcr({ nonce: 'thirdNonce', bank: 'sha256', pcrs, dataDigest });
    expect(third.pcrValues.get(DATA_PCR)!.equals(expected16)).toBe(true);
    expect(third.attempts).toBe(2);
    expect(checkQuote(ak.akPublic, third, 'thirdNonce').status).toBe(0);

    // A different data digest (new NK) re-extends.
    const otherDigest = sha256('another key');
    const fourth = await tpm.quoteWithDataPcr({ nonce: 'fourthNonce', bank: 'sha256', pcrs: [], dataDigest: otherDigest });
    expect(fourth.pcrValues.get(DATA_PCR)!.equals(sha256(Buffer.concat([Buffer.alloc(32), otherDigest])))).toBe(true);
    expect([...fourth.pcrValues.keys()]).toEqual([16]);
  });

  it('activates a credential made by tpm2_makecredential for the EK and AK name', async () => {
    const secret = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', 'ascii');
    const blob = makeCredential(ek.ekPublic, ak.akName, secret);
    expect(blob.readUInt32BE(0)).toBe(0xbadcc0de);
    expect((await tpm.activateCredential(blob)).equals(secret)).toBe(true);
    expect(transientHandles(swtpm)).toEqual([]);
  });

  it('refuses a credential for another AK name with a TpmError, leaving nothing loaded', async () => {
    const otherName = Buffer.concat([Buffer.from([0, 0x0b]), randomBytes(32)]);
    const blob = makeCredential(ek.ekPublic, otherName, Buffer.from('x'.repeat(32)));
    const error = await tpm.activateCredential(blob).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TpmError);
    expect((error as TpmError).tool).toBe('tpm2_activatecredential');
    expect((error as TpmError).exitStatus).toBeGreaterThan(0);
    expect((error as TpmError).stderr).toMatch(/Esys_ActivateCredential/);
    expect(transientHandles(swtpm)).toEqual([]);
  });

  it('rejects a blob that is not a tpm2-tools credential file before touching the TPM', async () => {
    await expect(tpm.activateCredential(Buffer.from('not a credential'))).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('reads, extends (batched, in order) and resets PCRs', async () => {
    await tpm.pcrReset(23);
    const digests = Array.from({ length: 1200 }, (_, i) => sha256(`event ${i}`));
    let expected = Buffer.alloc(32);
    for (const d of digests) expected = sha256(Buffer.concat([expected, d]));
    const before = tpm.processCount;
    await tpm.pcrExtendMany(digests.map((digest) => ({ pcr: 23, bank: 'sha256' as const, digest })));
    expect(tpm.processCount - before).toBe(3);
    const values = await tpm.pcrRead('sha256', [23, 0]);
    expect(values.get(23)!.equals(expected)).toBe(true);
    expect(values.get(0)!.equals(Buffer.alloc(32))).toBe(true);
    await tpm.pcrExtend(23, 'sha1', createHash('sha1').update('x').digest());
    expect((await tpm.pcrRead('sha1', [23])).get(23)!.equals(Buffer.alloc(20))).toBe(false);
    await tpm.pcrReset(23);
    expect((await tpm.pcrRead('sha256', [23])).get(23)!.equals(Buffer.alloc(32))).toBe(true);
    await expect(tpm.pcrExtend(23, 'sha256', Buffer.alloc(20))).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('serializes 20 concurrent quotes: none fails, nothing stays loaded', async () => {
    const dataDigest = sha256('nk');
    const nonces = Array.from({ length: 20 }, (_, i) => `concurrent${i}`);
    const quotes = await Promise.all(
      nonces.map((n, i) =>
        i % 2 === 0
          ? tpm.quoteWithDataPcr({ nonce: n, bank: 'sha256', pcrs: [0, 1, 10], dataDigest })
          : tpm.quote({ nonce: n, bank: 'sha256', pcrs: [0, 16] }),
      ),
    );
    quotes.forEach((q, i) => expect(checkQuote(ak.akPublic, q, nonces[i]!).status).toBe(0));
    expect(transientHandles(swtpm)).toEqual([]);
  });

  it('turns a failing tool into a TpmError with tool, exit status and stderr', async () => {
    const error = await tpm.pcrReset(0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TpmError);
    expect(error).toMatchObject({ code: 'tpm', tool: 'tpm2_pcrreset', exitStatus: 1 });
    expect((error as TpmError).stderr).toContain('bad locality');
    expect((error as TpmError).message).toContain('bad locality');
    // The queue keeps working after a failure.
    expect((await tpm.pcrRead('sha256', [0])).size).toBe(1);
  });

  it('says to install tpm2-tools when the binaries are missing', async () => {
    const broken = new Tpm({ tcti: swtpm.tcti, workDir: `${workDir}/broken`, binDir: '/nonexistent/bin' });
    const error = await broken.createEk('rsa').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeylimeError);
    expect(error).toMatchObject({ code: 'unreachable' });
    expect((error as Error).message).toMatch(/tpm2_createek was not found.*install tpm2-tools/);
    const cap = await broken.getCapability();
    expect(cap).toMatchObject({ ok: false, code: 'unreachable' });
  });

  it('reports the TPM for doctor', async () => {
    const cap = await tpm.getCapability();
    expect(cap).toMatchObject({ ok: true, manufacturer: 'IBM', vendor: 'SW TPM', family: '2.0', banks: ['sha1', 'sha256'] });
    const unreachable = new Tpm({ tcti: 'swtpm:host=127.0.0.1,port=1', workDir: `${workDir}/nowhere`, commandTimeoutMs: 10_000 });
    expect(await unreachable.getCapability()).toMatchObject({ ok: false, code: 'tpm' });
  });
});
