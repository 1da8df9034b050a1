/**
 * The replay checked against a real TPM: a fresh swtpm is started at locality 3 (as the
 * laptop's firmware was, per its StartupLocality event), every digest of the event log is
 * extended with tpm2_pcrextend, and the PCRs tpm2_pcrread reports must equal our replay.
 * A second run does the same for a synthetic log on a TPM started at locality 0.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwtpm, type Swtpm } from '../../support/swtpm.js';
import { checkMeasuredBoot } from '../../../src/mboot/measuredBoot.js';
import { parseEventLog } from '../../../src/mboot/parser.js';
import { createMbRefstate } from '../../../src/mboot/policy/createRefstate.js';
import { replayEventLog } from '../../../src/mboot/replay.js';
import type { EventLog } from '../../../src/mboot/types.js';
import { linuxBoot } from '../../unit/mboot/builder.js';
import { LAPTOP_EVENT_LOG } from '../../support/fixtures.js';

const run = promisify(execFile);
const FIXTURE = LAPTOP_EVENT_LOG;
const PCRS = Array.from({ length: 16 }, (_, i) => i);

/** TPM2_Startup(SU_CLEAR), sent raw: tpm2_startup's TCTI would switch back to locality 0. */
const STARTUP_CLEAR = Buffer.from('80010000000c000001440000', 'hex');

async function rawCommand(port: number, command: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(command));
    const chunks: Buffer[] = [];
    s.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 6 && all.length >= all.readUInt32BE(2)) {
        s.destroy();
        resolve(all);
      }
    });
    s.on('error', reject);
  });
}

/** TPM_Init, then TPM2_Startup at the given locality: PCR 0 starts as 0…0<locality>. */
async function resetAtLocality(tpm: Swtpm, locality: number): Promise<void> {
  await run('swtpm_ioctl', ['--tcp', `127.0.0.1:${tpm.ctrlPort}`, '-i']);
  await run('swtpm_ioctl', ['--tcp', `127.0.0.1:${tpm.ctrlPort}`, '-l', String(locality)]);
  const rsp = await rawCommand(tpm.port, STARTUP_CLEAR);
  expect(rsp.toString('hex')).toBe('80010000000a00000000');
}

/** Extends every digest of every event but EV_NO_ACTION, many `PCR:alg=hex,...` per call. */
async function extendAll(tpm: Swtpm, log: EventLog): Promise<number> {
  const args = log.events
    .filter((e) => e.eventType !== 0x3 && e.digests.length > 0)
    .map((e) => `${e.pcrIndex}:${e.digests.map((d) => `${d.alg}=${d.digest.toString('hex')}`).join(',')}`);
  for (let i = 0; i < args.length; i += 50) {
    await run('tpm2_pcrextend', args.slice(i, i + 50), { env: tpm.env });
  }
  return args.length;
}

async function readPcrs(tpm: Swtpm): Promise<Record<string, Map<number, string>>> {
  const list = PCRS.join(',');
  const { stdout } = await run('tpm2_pcrread', [`sha1:${list}+sha256:${list}`], { env: tpm.env });
  const out: Record<string, Map<number, string>> = {};
  let bank = '';
  for (const line of stdout.split('\n')) {
    const b = /^\s*(sha1|sha256):\s*$/.exec(line);
    if (b) {
      bank = b[1]!;
      out[bank] = new Map();
      continue;
    }
    const v = /^\s*(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$/.exec(line);
    if (v && bank) out[bank]!.set(Number(v[1]), v[2]!.toLowerCase());
  }
  return out;
}

function replayedOrZero(log: EventLog): Record<string, Map<number, string>> {
  const out: Record<string, Map<number, string>> = {};
  for (const bank of replayEventLog(log).banks.values()) {
    out[bank.alg] = new Map(PCRS.map((p) => [p, (bank.pcrs.get(p) ?? Buffer.alloc(bank.digestSize)).toString('hex')]));
  }
  return out;
}

describe('PCR replay against swtpm + tpm2-tools', () => {
  let tpm: Swtpm;
  beforeAll(async () => {
    tpm = await startSwtpm({ ekCert: false });
  });
  afterAll(async () => {
    await tpm?.stop();
  });

  it('the laptop log: the TPM, started at locality 3, ends with exactly the replayed PCRs 0-15 in both banks', async () => {
    const bytes = readFileSync(FIXTURE);
    const log = parseEventLog(bytes);
    expect(replayEventLog(log).startupLocality).toBe(3);
    await resetAtLocality(tpm, 3);
    const before = await readPcrs(tpm);
    expect(before.sha256!.get(0)).toBe(`${'00'.repeat(31)}03`);
    expect(await extendAll(tpm, log)).toBe(119);
    const tpmPcrs = await readPcrs(tpm);
    expect(tpmPcrs).toEqual(replayedOrZero(log));
    expect(tpmPcrs.sha256!.get(0)).toBe('0ee9a7feba8f4172f1a7451594aa5731665a4d353ac61814042ce107a00742f2');

    // The verifier's view: the quoted values (here read from the TPM) match the replay and the policy passes.
    const quoted = Object.fromEntries(tpmPcrs.sha256!);
    const refstate = createMbRefstate(log, { withoutSecureboot: true, relaxed: true }).refstate;
    const check = checkMeasuredBoot({ eventLog: bytes.toString('base64'), quotedPcrs: quoted, hashAlg: 'sha256', mbPolicy: refstate, policyName: 'example-relaxed' });
    expect(check.failures).toEqual([]);
    expect(check.checkedPcrs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]);
  });

  it('tpm2_eventlog 5.4 agrees on PCRs 1-15 but not on PCR 0 (it ignores the startup locality)', async () => {
    const { stdout } = await run('tpm2_eventlog', ['--eventlog-version=2', FIXTURE]);
    const section = stdout.slice(stdout.indexOf('\npcrs:'));
    const tools: Record<string, Map<number, string>> = {};
    let bank = '';
    for (const line of section.split('\n')) {
      const b = /^\s+(sha1|sha256):\s*$/.exec(line);
      if (b) {
        bank = b[1]!;
        tools[bank] = new Map();
      }
      const v = /^\s+(\d+)\s*:\s*0x([0-9a-fA-F]+)/.exec(line);
      if (v && bank) tools[bank]!.set(Number(v[1]), v[2]!.toLowerCase().padStart(bank === 'sha1' ? 40 : 64, '0'));
    }
    const ours = replayedOrZero(parseEventLog(readFileSync(FIXTURE)));
    for (const alg of ['sha1', 'sha256']) {
      expect(tools[alg]!.size).toBe(11);
      for (const [pcr, value] of tools[alg]!) {
        if (pcr === 0) expect(value).not.toBe(ours[alg]!.get(0));
        else expect(value).toBe(ours[alg]!.get(pcr));
      }
    }
  });

  it('a synthetic log on a TPM started at locality 0 replays to the TPM values, and a tampered log does not', async () => {
    const builder = linuxBoot();
    const log = parseEventLog(builder.build());
    await resetAtLocality(tpm, 0);
    await extendAll(tpm, log);
    const tpmPcrs = await readPcrs(tpm);
    expect(tpmPcrs).toEqual(replayedOrZero(log));
    const quoted = Object.fromEntries(tpmPcrs.sha256!);
    const refstate = createMbRefstate(log).refstate;
    expect(checkMeasuredBoot({ eventLog: builder.build(), quotedPcrs: quoted, hashAlg: 'sha256', mbPolicy: refstate, policyName: 'example' }).failures).toEqual([]);

    // The same boot with another grub: the log no longer replays to the quoted PCR 4.
    const tampered = linuxBoot({ grub: 'grub-evil' }).build();
    const check = checkMeasuredBoot({ eventLog: tampered, quotedPcrs: quoted, hashAlg: 'sha256', mbPolicy: refstate, policyName: 'example' });
    expect(check.failures.map((f) => f.id)).toEqual(['measured_boot.invalid_pcr_4', 'measured_boot.policy_example']);
    expect(String(check.failures[1]!.context.reason)).toMatch(/\[1\] \(grub: /);
  });
});
