import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedDataPcr, signSoftwareQuote, softwareAkPublic } from '../../../src/quote/index.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const NONCE = 'Q7fz0LmKc1TsTFyJiUkv';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `keylime-ts quote verify` as a user runs it, from the built tree. */
function cli(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/keylime-ts'), 'quote', 'verify', ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('keylime-ts quote verify', () => {
  let dir: string;
  const f = (name: string) => join(dir, name);

  beforeAll(() => {
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { encoding: 'utf8' });
    // Other groups' type errors must not hide ours; the CLI only needs dist/ to exist.
    expect(build.stdout).not.toMatch(/src\/(quote|commands\/quote)/);
    dir = mkdtempSync(join(tmpdir(), 'kts-quote-cli-'));
    const ak = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const nk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const pcrs = new Map<number, Buffer>([
      [15, Buffer.alloc(32)],
      [16, Buffer.from(expectedDataPcr(nk, 'sha256'), 'hex')],
    ]);
    const q = signSoftwareQuote({ privateKey: ak.privateKey, hashAlg: 'sha256', nonce: NONCE, pcrs, clock: { clock: 42, resetCount: 1, restartCount: 0, safe: 1 } });
    const akTpm = softwareAkPublic(ak.publicKey, 'sha256');
    writeFileSync(f('quote.txt'), q.quote + '\n');
    writeFileSync(f('ak.b64'), akTpm.toString('base64') + '\n');
    writeFileSync(f('ak.bin'), akTpm);
    writeFileSync(f('ak.pem'), ak.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(f('nk.pem'), nk);
    writeFileSync(f('other.pem'), nk.replace('\n-----END', 'A\n-----END'));
    writeFileSync(f('response.json'), JSON.stringify({ code: 200, status: 'Success', results: { quote: q.quote, hash_alg: 'sha256', enc_alg: 'rsa', sign_alg: 'rsassa', pubkey: nk } }));
    writeFileSync(f('policy.json'), JSON.stringify({ 15: '00'.repeat(32) }));
  }, 180_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exit 0 for a valid quote with each AK form', () => {
    for (const ak of ['ak.b64', 'ak.bin', 'ak.pem']) {
      const r = cli(['--quote', f('quote.txt'), '--ak', f(ak), '--nonce', NONCE, '--data-pubkey', f('nk.pem'), '--tpm-policy', f('policy.json')]);
      expect(r.stderr, ak).toBe('');
      expect(r.status, ak).toBe(0);
      expect(r.stdout).toContain('Quote is valid.');
      expect(r.stdout).toContain('PCR 16 binds the given public key');
      expect(r.stdout).toContain('tpm_policy satisfied');
    }
  });

  it('reads an agent response on stdin and prints one JSON document', () => {
    const r = cli(['--quote', '-', '--ak', f('ak.b64'), '--nonce', NONCE, '--json'], readFileSync(f('response.json'), 'utf8'));
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ valid: true, failures: [], hash_alg: 'sha256', sign_alg: 'rsassa', clock: { clock: 42, resetCount: 1, restartCount: 0, safe: 1 } });
    expect(Object.keys(doc.pcrs)).toEqual(['15', '16']);
    expect(doc.checked).toContain('data_pcr');
  });

  it('exit 1 with the Keylime event on stderr and in --json', () => {
    const wrongNonce = cli(['--quote', f('quote.txt'), '--ak', f('ak.b64'), '--nonce', 'other', '--json']);
    expect(wrongNonce.status).toBe(1);
    expect(wrongNonce.stderr).toContain('[qoute_validation.quote_validation]');
    expect(wrongNonce.stderr).toContain('nonce');
    const doc = JSON.parse(wrongNonce.stdout);
    expect(doc.valid).toBe(false);
    expect(doc.failures).toEqual([
      {
        event_id: 'qoute_validation.quote_validation',
        recoverable: false,
        context: { message: 'Quote data validation', error: 'The nonce from the attestation differs from the expected nonce' },
      },
    ]);

    const pcr16 = cli(['--quote', f('quote.txt'), '--ak', f('ak.pem'), '--nonce', NONCE, '--data-pubkey', f('other.pem')]);
    expect(pcr16.status).toBe(1);
    expect(pcr16.stdout).toBe('');
    expect(pcr16.stderr).toContain('[pcr_validation.invalid_pcr_16]');

    const policy = cli(['--quote', f('quote.txt'), '--ak', f('ak.b64'), '--nonce', NONCE, '--tpm-policy', `{"15": "${'11'.repeat(32)}", "4": "${'22'.repeat(32)}"}`, '--json']);
    expect(policy.status).toBe(1);
    expect(JSON.parse(policy.stdout).failures.map((x: { event_id: string }) => x.event_id)).toEqual([
      'pcr_validation.invalid_pcr_15',
      'pcr_validation.missing_pcrs',
    ]);
  });

  it('exit 2 for input that cannot be read or decoded', () => {
    const cases: string[][] = [
      ['--quote', f('ak.b64'), '--ak', f('ak.b64'), '--nonce', NONCE],
      ['--quote', f('missing.txt'), '--ak', f('ak.b64'), '--nonce', NONCE],
      ['--quote', f('quote.txt'), '--ak', f('quote.txt'), '--nonce', NONCE],
      ['--quote', f('quote.txt'), '--ak', f('ak.b64')],
      ['--quote', f('quote.txt'), '--ak', f('ak.b64'), '--nonce', NONCE, '--hash-alg', 'md5'],
      ['--quote', f('quote.txt'), '--ak', f('ak.b64'), '--nonce', NONCE, '--tpm-policy', '{"16": "00"}'],
    ];
    for (const args of cases) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).not.toContain('internal error');
    }
  });
});
