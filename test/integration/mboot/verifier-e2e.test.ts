/**
 * Measured boot end to end: our registrar, our verifier running Keylime's `example`
 * policy engine, and real agents, each on its own swtpm whose PCRs were extended by a
 * synthetic boot (firmware.ts) and which serves that boot's log as mb_measurement_list.
 * The reference state is made from the good boot's log with createMbRefstate and sent
 * as the per-agent mb_policy, as `keylime_tenant --mb-policy` does.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import { silentLogger } from '../../../src/log.js';
import { createMbRefstate, parseEventLog } from '../../../src/mboot/index.js';
import { buildTpmPolicy } from '../../../src/quote/index.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';
import { State } from '../../../src/servers/verifier/states.js';
import { authenticode, linuxBoot, type EventLogBuilder } from '../../unit/mboot/builder.js';
import { adminClient, agentStatus, directEnrollmentBody, newTpm, startAgent, startStack, startWebhook, waitFor, type Stack, type Webhook } from '../verifier/stack.js';
import { bootMachine, type BootedMachine, type BootOptions } from './firmware.js';

const GOOD = 'b0070000-0000-4000-8000-000000000001';
const ROOTKIT = 'b0070000-0000-4000-8000-000000000002';
const SHORT = 'b0070000-0000-4000-8000-000000000003';

interface Machine extends BootedMachine {
  agent: RunningAgent;
  builder: EventLogBuilder;
}

let stack: Stack;
let verifier: RunningVerifier;
let admin: HttpClient;
let webhook: Webhook;
const machines = new Map<string, Machine>();
// The operator's golden image: the refstate every machine is enrolled with.
const golden = linuxBoot();
const refstate = createMbRefstate(parseEventLog(golden.build()));

async function bootAndStartAgent(id: string, builder: EventLogBuilder, options: BootOptions = {}): Promise<void> {
  const swtpm = await newTpm(stack);
  const booted = await bootMachine(swtpm, builder, join(stack.dir, `boot-${id}`), options);
  const agent = await startAgent(stack.agentOptions(swtpm, id, { eventLog: booted.eventLogPath }));
  machines.set(id, { ...booted, agent, builder });
}

/** The tenant's add with --mb-policy: the refstate as JSON text, the mask with PCRs 0-9 and 11-15. */
async function enrollWithRefstate(id: string): Promise<void> {
  const reg = (await stack.registrarTenant.get<Record<string, unknown>>(`/v2.2/agents/${id}`)).body!.results;
  const body = directEnrollmentBody(Number(reg.port), String(reg.mtls_cert), String(reg.aik_tpm), { v: null, tpm_policy: buildTpmPolicy(undefined, { measuredBoot: true }).json, runtime_policy_name: null, mb_policy: JSON.stringify(refstate.refstate) });
  const r = await admin.post(`/v2.2/agents/${id}`, body);
  expect(r.status, r.text).toBe(200);
}

async function invalidQuote(id: string): Promise<{ status: Record<string, unknown>; event: Record<string, unknown> }> {
  const status = await waitFor(`Invalid Quote for ${id}`, 15_000, async () => {
    const s = (await agentStatus(admin, id)).results;
    return s.operational_state === State.INVALID_QUOTE ? s : undefined;
  });
  const note = await waitFor(`revocation for ${id} at the webhook`, 10_000, async () => webhook.received.find((n) => JSON.parse(n.msg).agent_id === id));
  const msg = JSON.parse(note.msg) as Record<string, unknown>;
  return { status, event: { event_id: msg.event_id, ...(JSON.parse(String(msg.context)) as Record<string, unknown>) } };
}

beforeAll(async () => {
  expect(refstate.warnings).toEqual([]);
  stack = await startStack();
  webhook = await startWebhook();
  verifier = await startVerifier({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(stack.dir, 'verifier'),
    certDir: stack.caDir,
    quoteIntervalSeconds: 1,
    measuredBootPolicyName: 'example',
    revocation: { targets: ['webhook'], webhookUrl: webhook.url },
    logger: silentLogger,
  });
  admin = adminClient(stack, `https://127.0.0.1:${verifier.port}`);
  await Promise.all([
    bootAndStartAgent(GOOD, golden),
    // The same boot but another kernel image: log and TPM agree, the refstate does not.
    bootAndStartAgent(ROOTKIT, linuxBoot({ kernel: 'kernel-6.11.5-rootkit' })),
    // The golden log, but the TPM never saw its last measurement (PCR 5, Exit Boot Services Returned).
    bootAndStartAgent(SHORT, golden, { unmeasuredTail: 1 }),
  ]);
}, 90_000);

afterAll(async () => {
  await admin?.close();
  await verifier?.close();
  await Promise.all([...machines.values()].map((m) => m.agent.close()));
  await webhook?.close();
  await stack?.close();
});

describe('measured boot through registrar, verifier (example policy) and agents on swtpm', () => {
  it('the TPMs hold what the firmware extended: the golden and rootkit boots match their logs, the short one does not', () => {
    expect(machines.get(GOOD)!.pcrs).toEqual(pick(golden.expectedPcrs('sha256'), machines.get(GOOD)!.pcrs));
    const rootkit = machines.get(ROOTKIT)!;
    expect(rootkit.pcrs).toEqual(pick(rootkit.builder.expectedPcrs('sha256'), rootkit.pcrs));
    expect(rootkit.pcrs.get(4)).not.toBe(machines.get(GOOD)!.pcrs.get(4));
    const short = machines.get(SHORT)!;
    expect(short.pcrs.get(5)).not.toBe(machines.get(GOOD)!.pcrs.get(5));
    for (const p of [0, 1, 2, 3, 4, 6, 7, 8, 9, 14]) expect(short.pcrs.get(p)).toBe(machines.get(GOOD)!.pcrs.get(p));
  });

  it('the golden boot attests with its reference state and stays in Get Quote', async () => {
    await enrollWithRefstate(GOOD);
    const s = await waitFor('Get Quote with two attestations', 15_000, async () => {
      const r = (await agentStatus(admin, GOOD)).results;
      if (r.operational_state === State.INVALID_QUOTE) throw new Error(`failed: ${String(r.last_event_id)}`);
      return r.operational_state === State.GET_QUOTE && Number(r.attestation_count) >= 2 ? r : undefined;
    });
    expect(s.has_mb_refstate).toBe(1);
    expect(s.last_event_id).toBeNull();
    expect(s.tpm_policy).toBe('{"mask": "0xfbff"}');
  });

  it('one boot component differs from the refstate (the kernel image) -> Invalid Quote naming the kernel and both digests', async () => {
    await enrollWithRefstate(ROOTKIT);
    const { status, event } = await invalidQuote(ROOTKIT);
    expect(status.last_event_id).toBe('measured_boot.policy_example');
    expect(event.event_id).toBe('measured_boot.policy_example');
    expect(event.context).toBe('Boot attestation failed');
    const reason = String(event.reason);
    expect(reason).toMatch(/\(kernel: event #\d+ \(PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION, File\(\\vmlinuz-6\.11\.5\)\)\) has no digest approved by/);
    expect(reason).toContain(`0x${authenticode('kernel-6.11.5').toString('hex')}`);
    expect(reason).toContain(`it has sha256 0x${authenticode('kernel-6.11.5-rootkit').toString('hex')}`);
    // Only the kernel is blamed: shim, grub, firmware and keys all matched.
    expect(reason).not.toMatch(/shim:|grub:|initrd:|platform firmware|S-CRTM/);
    // The golden machine is untouched by the other's failure.
    expect((await agentStatus(admin, GOOD)).results.operational_state).toBe(State.GET_QUOTE);
  });

  it('a log that does not replay to the quoted PCRs -> Invalid Quote measured_boot.invalid_pcr_5 with the quoted and replayed values', async () => {
    await enrollWithRefstate(SHORT);
    const { status, event } = await invalidQuote(SHORT);
    expect(status.last_event_id).toBe('measured_boot.invalid_pcr_5');
    expect(event.event_id).toBe('measured_boot.invalid_pcr_5');
    expect(event.got).toBe(machines.get(SHORT)!.pcrs.get(5));
    expect(event.expected).toBe(golden.expectedPcrs('sha256').get(5));
  });
});

function pick(all: Map<number, string>, like: Map<number, string>): Map<number, string> {
  return new Map([...like.keys()].map((p) => [p, all.get(p) ?? '00'.repeat(32)]));
}
