import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerPolicyMb } from '../../../src/commands/policy-mb.js';
import { LAPTOP_EVENT_LOG } from '../../support/fixtures.js';

const FIXTURE = LAPTOP_EVENT_LOG;
const dir = mkdtempSync(join(tmpdir(), 'kts-mb-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let out = '';
let err = '';
beforeEach(() => {
  out = '';
  err = '';
  process.exitCode = undefined;
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function run(...args: string[]): Promise<number> {
  const program = new Command().exitOverride();
  registerPolicyMb(program.command('policy'));
  await program.parseAsync(['node', 'keylime-ts', 'policy', 'mb', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return code;
}

describe('keylime-ts policy mb', () => {
  const refPath = join(dir, 'ref.json');
  const relaxedPath = join(dir, 'ref-relaxed.json');

  it('create refuses a secure-boot-off log without --without-secureboot (exit 2)', async () => {
    expect(await run('create', '-e', FIXTURE)).toBe(2);
    expect(err).toMatch(/secure boot is disabled in this event log; use --without-secureboot/);
    expect(out).toBe('');
  });

  it('create writes the refstate to stdout or -o', async () => {
    expect(await run('create', '-e', FIXTURE, '--without-secureboot')).toBe(0);
    const ref = JSON.parse(out);
    expect(ref.has_secureboot).toBe(false);
    expect(ref.kernels[0]).toHaveProperty('vmlinuz_plain_sha256');
    expect(await run('create', '-e', FIXTURE, '-i', '-o', refPath)).toBe(0);
    expect(JSON.parse(readFileSync(refPath, 'utf8'))).toEqual(ref);
    expect(await run('create', '-e', FIXTURE, '-i', '--policy-name', 'example-relaxed', '-o', relaxedPath)).toBe(0);
    expect(JSON.parse(readFileSync(relaxedPath, 'utf8')).scrtm_and_bios[0].platform_firmware).toHaveLength(11);
  });

  it('show-log prints every event and the replayed PCRs; --json prints one document', async () => {
    expect(await run('show-log', FIXTURE)).toBe(0);
    expect(out.split('\n').filter((l) => /^#\d+ PCR /.test(l))).toHaveLength(121);
    expect(out).toContain('DevicePath: PciRoot(0x0)/Pci(0x6,0x0)/Pci(0x0,0x0)/NVMe(0x1,00-25-38-B2-21-D1-37-50)/HD(1,GPT,b8f6bee9-bc10-4c72-b34a-6db8fd8f772c,0x800,0x80000)/File(\\EFI\\fedora\\shimx64.efi)');
    expect(out).toContain('subject C=JP, ST=Kanagawa, L=Yokohama, O=Lenovo Ltd., CN=Lenovo Ltd. PK CA 2012');
    expect(out).toMatch(/ {4}0 {2}0ee9a7feba8f4172f1a7451594aa5731665a4d353ac61814042ce107a00742f2/);
    out = '';
    expect(await run('show-log', FIXTURE, '--json')).toBe(0);
    const doc = JSON.parse(out);
    expect(doc.events).toHaveLength(121);
    expect(doc.pcrs.sha256['0']).toBe('0ee9a7feba8f4172f1a7451594aa5731665a4d353ac61814042ce107a00742f2');
    const b64 = join(dir, 'log.b64');
    writeFileSync(b64, readFileSync(FIXTURE).toString('base64'));
    out = '';
    expect(await run('show-log', b64, '--base64', '--json')).toBe(0);
    expect(JSON.parse(out).events).toHaveLength(121);
  });

  it('test exits 0 on pass and 1 with the reason on failure', async () => {
    expect(await run('test', '-e', FIXTURE, '-p', relaxedPath, '--policy-name', 'example-relaxed')).toBe(0);
    expect(out).toMatch(/^PASS: the event log satisfies the example-relaxed policy/);
    out = '';
    expect(await run('test', '-e', FIXTURE, '-p', refPath)).toBe(1);
    expect(out).toContain('measured_boot.policy_example: event #1 (PCR 0, EV_NO_ACTION, StartupLocality 3) test was already run once');
    const ref = JSON.parse(readFileSync(relaxedPath, 'utf8'));
    ref.kernels[0].grub_authcode_sha256 = `0x${'00'.repeat(32)}`;
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(ref));
    out = '';
    expect(await run('test', '-e', FIXTURE, '-p', bad, '--policy-name', 'example-relaxed', '--json')).toBe(1);
    const doc = JSON.parse(out);
    expect(doc).toMatchObject({ passed: false, policy: 'example-relaxed', evaluated: true });
    expect(doc.failures[0].context.reason).toMatch(/\[bsas \[1\] \(grub: event #57 /);
  });

  it('test --pcrs compares the replay with quoted values', async () => {
    const pcrs = JSON.stringify({ sha256: { 0: '1877eacbf0290c67521de489ae1ca5d04de12150e522f472f3fb3daeb35e8e43', 4: '0xa77ff9ab296e10186dd7e7082eab94e795b1ba9d84e920b09cf6272f68c2711c' } });
    expect(await run('test', '-e', FIXTURE, '-p', relaxedPath, '--policy-name', 'accept-all', '--pcrs', pcrs)).toBe(1);
    expect(out).toContain('measured_boot.invalid_pcr_0: quote 1877eacb');
    expect(out).not.toContain('invalid_pcr_4');
    const file = join(dir, 'pcrs.json');
    writeFileSync(file, JSON.stringify({ 4: 'a77ff9ab296e10186dd7e7082eab94e795b1ba9d84e920b09cf6272f68c2711c' }));
    out = '';
    expect(await run('test', '-e', FIXTURE, '-p', relaxedPath, '--policy-name', 'accept-all', '--pcrs', file)).toBe(0);
    expect(out).toMatch(/PCRs 4 match the quote/);
  });

  it('input errors exit 2, missing files 4', async () => {
    expect(await run('show-log', join(dir, 'nope.bin'))).toBe(4);
    expect(err).toMatch(/does not exist/);
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, 'hello');
    expect(await run('show-log', junk)).toBe(2);
    expect(err).toMatch(/at byte offset 0/);
    expect(await run('test', '-e', FIXTURE, '-p', junk)).toBe(2);
    expect(await run('test', '-e', FIXTURE, '-p', refPath, '--pcrs', '{"x": 1}')).toBe(2);
  });
});
