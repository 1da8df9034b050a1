import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueCertificate, loadCa } from '../src/crypto/ca.js';
import { selfSignedServerCert } from '../src/crypto/self-signed.js';
import { medianMs, opsPerSecond, type Figure } from './harness.js';

/** CA work is rare (once per install, once per extra cert); these figures keep it honest. */
async function inTemp<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'klts-bench-ca-'));
  try {
    return await fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

let n = 0;
export const figures: Figure[] = [
  {
    name: 'ca.init',
    unit: 'ms',
    run: () => inTemp((root) => medianMs(() => initCa(join(root, `ca${n++}`)), 9)),
  },
  {
    name: 'ca.issue.client',
    unit: 'ms',
    run: () =>
      inTemp(async (root) => {
        await initCa(join(root, 'cv_ca'));
        return medianMs(() => issueCertificate(join(root, 'cv_ca'), { kind: 'client', name: `c${n++}` }), 9);
      }),
  },
  {
    name: 'ca.load',
    unit: 'ms',
    run: () =>
      inTemp(async (root) => {
        await initCa(join(root, 'cv_ca'));
        return medianMs(() => loadCa(join(root, 'cv_ca')), 9);
      }),
  },
  {
    name: 'ca.selfsigned.ec256',
    unit: 'ops/s',
    run: () => opsPerSecond(() => selfSignedServerCert({ commonName: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000', hosts: ['192.0.2.1'] }), 1),
  },
];
