import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';

function ekCertDer(tpm: Swtpm): Buffer {
  // tpm2_nvread writes the whole index; the DER certificate is a prefix of it.
  const out = execFileSync('tpm2_nvread', ['0x1c00002', '-C', 'o'], { env: tpm.env, stdio: ['ignore', 'pipe', 'ignore'] });
  return out;
}

describe('swtpm test harness', () => {
  const tpms: Swtpm[] = [];
  beforeAll(async () => {
    tpms.push(...(await Promise.all([startSwtpm(), startSwtpm()])));
  });
  afterAll(async () => {
    await Promise.all(tpms.map((t) => t.stop()));
  });

  it('runs two independent TPMs side by side', () => {
    const [a, b] = tpms as [Swtpm, Swtpm];
    expect(a.port).not.toBe(b.port);
    const randA = execFileSync('tpm2_getrandom', ['--hex', '16'], { env: a.env }).toString();
    const randB = execFileSync('tpm2_getrandom', ['--hex', '16'], { env: b.env }).toString();
    expect(randA).toMatch(/^[0-9a-f]{32}$/);
    expect(randA).not.toBe(randB);
  });

  it('EK certificate in NV chains to that instance local CA, not the other one', () => {
    const [a, b] = tpms as [Swtpm, Swtpm];
    const cert = new X509Certificate(ekCertDer(a));
    const [rootA, interA] = a.caCerts.map((p) => new X509Certificate(p)) as [X509Certificate, X509Certificate];
    const [, interB] = b.caCerts.map((p) => new X509Certificate(p)) as [X509Certificate, X509Certificate];
    expect(cert.verify(interA.publicKey)).toBe(true);
    expect(interA.verify(rootA.publicKey)).toBe(true);
    expect(cert.checkIssued(interA)).toBe(true);
    expect(cert.verify(interB.publicKey)).toBe(false);
  });

  it('restart is a TPM reset: PCRs go back to zero', async () => {
    const tpm = tpms[0]!;
    execFileSync('tpm2_pcrextend', [`23:sha256=${'11'.repeat(32)}`], { env: tpm.env });
    const before = execFileSync('tpm2_pcrread', ['sha256:23'], { env: tpm.env }).toString();
    expect(before).not.toContain('0x' + '0'.repeat(64));
    await tpm.restart();
    const after = execFileSync('tpm2_pcrread', ['sha256:23'], { env: tpm.env }).toString();
    expect(after).toContain('0x' + '0'.repeat(64));
  });
});
