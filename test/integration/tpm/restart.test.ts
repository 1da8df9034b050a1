import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { Tpm, DEFAULT_AK_HANDLE, type AkKey } from '../../../src/tpm/index.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { checkQuote, makeCredential, persistentHandles, resetInPlace, scratchDir, tpm2, transientHandles } from './helpers.js';

const dataDigest = createHash('sha256').update('payload key pem').digest();
const pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

describe('Tpm across TPM resets and agent restarts', () => {
  const swtpms: Swtpm[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(swtpms.splice(0).map((s) => s.stop()));
  });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function fresh(): Promise<{ swtpm: Swtpm; dir: string }> {
    const swtpm = await startSwtpm();
    swtpms.push(swtpm);
    const dir = scratchDir();
    dirs.push(dir);
    return { swtpm, dir };
  }

  it('after swtpm restart a new agent process finds the same persistent AK; quotes verify', async () => {
    const { swtpm, dir } = await fresh();
    const first = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    const ek = await first.createEk('rsa');
    const ak = await first.createAk();
    await swtpm.restart();

    const second = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    expect((await second.createEk('rsa')).ekPublic.equals(ek.ekPublic)).toBe(true);
    const before = second.processCount;
    const again = await second.loadAk(ak.akPublic, ak.akPrivate);
    expect(again.akName.equals(ak.akName)).toBe(true);
    expect(again.persistentHandle).toBe(ak.persistentHandle);
    // Found at its handle: a handle listing and one readpublic, no tpm2_load.
    expect(second.processCount - before).toBe(2);
    const quote = await second.quoteWithDataPcr({ nonce: 'afterRestart1', bank: 'sha256', pcrs, dataDigest });
    expect(checkQuote(ak.akPublic, quote, 'afterRestart1').status).toBe(0);
    const secret = Buffer.from('s'.repeat(32));
    expect((await second.activateCredential(makeCredential(ek.ekPublic, ak.akName, secret))).equals(secret)).toBe(true);
    expect(transientHandles(swtpm)).toEqual([]);
  });

  it('reloads the AK from its blobs under the EK when its persistent handle is gone', async () => {
    const { swtpm, dir } = await fresh();
    const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    await tpm.createEk('rsa');
    const ak = await tpm.createAk();
    expect(await tpm.removePersistentAk()).toBe(true);
    expect(persistentHandles(swtpm)).not.toContain(DEFAULT_AK_HANDLE);
    await swtpm.restart();

    const next = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    await next.createEk('rsa');
    const loaded = await next.loadAk(ak.akPublic, ak.akPrivate);
    expect(loaded.akName.equals(ak.akName)).toBe(true);
    expect(loaded.persistentHandle).toBe(DEFAULT_AK_HANDLE);
    const quote = await next.quote({ nonce: 'reloaded', bank: 'sha256', pcrs });
    expect(checkQuote(ak.akPublic, quote, 'reloaded').status).toBe(0);
    expect(transientHandles(swtpm)).toEqual([]);
  });

  it('a persistent AK evicted behind its back is restored on the next quote', async () => {
    const { swtpm, dir } = await fresh();
    const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    await tpm.createEk('rsa');
    const ak = await tpm.createAk();
    tpm2(swtpm, 'tpm2_evictcontrol', ['-C', 'o', '-c', '0x81000100']);
    const quote = await tpm.quote({ nonce: 'restored', bank: 'sha256', pcrs: [0] });
    expect(checkQuote(ak.akPublic, quote, 'restored').status).toBe(0);
    expect(persistentHandles(swtpm)).toContain(0x81000100);
  });

  it('never touches a foreign object at its handle, and reuses only its own superseded slot', async () => {
    const { swtpm, dir } = await fresh();
    // Another program already persisted a key of its own at the default AK handle.
    tpm2(swtpm, 'tpm2_createprimary', ['-C', 'o', '-c', 'primary.ctx'], dir);
    tpm2(swtpm, 'tpm2_evictcontrol', ['-C', 'o', '-c', 'primary.ctx', '0x81000100'], dir);
    tpm2(swtpm, 'tpm2_flushcontext', ['-t']);
    const foreign = tpm2(swtpm, 'tpm2_readpublic', ['-c', '0x81000100']);

    const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm') });
    await tpm.createEk('rsa');
    const first = await tpm.createAk();
    expect(first.persistentHandle).toBe(0x81000101);
    // A new AK replaces the old one in the same slot; the foreign key is untouched.
    const second = await tpm.createAk({ encAlg: 'ecc' });
    expect(second.persistentHandle).toBe(0x81000101);
    expect(tpm2(swtpm, 'tpm2_readpublic', ['-c', '0x81000100'])).toBe(foreign);
    expect(persistentHandles(swtpm).filter((h) => h >= 0x81000100 && h < 0x81000110)).toEqual([0x81000100, 0x81000101]);
    const quote = await tpm.quote({ nonce: 'eccQuote', bank: 'sha256', pcrs: [0, 16] });
    expect(checkQuote(second.akPublic, quote, 'eccQuote').status).toBe(0);
  });

  it('a transient AK survives a TPM reset in place: contexts are rebuilt and the command rerun', async () => {
    const { swtpm, dir } = await fresh();
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
    const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'tpm'), akHandle: null, logger });
    const ek = await tpm.createEk('rsa');
    const ak: AkKey = await tpm.createAk();
    expect(ak.persistentHandle).toBeNull();
    expect(persistentHandles(swtpm)).not.toContain(DEFAULT_AK_HANDLE);
    const before = tpm.processCount;
    const q1 = await tpm.quoteWithDataPcr({ nonce: 'transient1', bank: 'sha256', pcrs, dataDigest });
    expect(checkQuote(ak.akPublic, q1, 'transient1').status).toBe(0);
    // reset + extend + quote + flush.
    expect(tpm.processCount - before).toBe(4);

    resetInPlace(swtpm);
    const q2 = await tpm.quoteWithDataPcr({ nonce: 'transient2', bank: 'sha256', pcrs, dataDigest });
    expect(checkQuote(ak.akPublic, q2, 'transient2').status).toBe(0);
    expect(lines.filter((l) => l.includes('TPM was reset'))).toHaveLength(1);
    const secret = Buffer.from('t'.repeat(32));
    resetInPlace(swtpm);
    expect((await tpm.activateCredential(makeCredential(ek.ekPublic, ak.akName, secret))).equals(secret)).toBe(true);
    expect(lines.filter((l) => l.includes('TPM was reset'))).toHaveLength(2);
    expect(transientHandles(swtpm)).toEqual([]);
  });
});
