import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEventLog, replayEventLog } from '../../../src/mboot/index.js';
import { imaEvaluator, measuredBootEvaluator } from '../../../src/servers/verifier/evaluators.js';
import { addAgent } from '../../../src/servers/verifier/service.js';
import { State } from '../../../src/servers/verifier/states.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { enrollmentBody, makeHarness } from './harness.js';
import { LAPTOP_EVENT_LOG } from '../../support/fixtures.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const b64 = (s: string) => Buffer.from(s).toString('base64');

function runtimePolicy(digests: Record<string, string[]>, excludes: string[] = []): string {
  return JSON.stringify({
    meta: { version: 1, generator: 3 },
    release: 0,
    digests,
    excludes,
    keyrings: {},
    ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
    'ima-buf': {},
    'verification-keys': '',
  });
}

const FIXTURE = readFileSync(LAPTOP_EVENT_LOG);
const MB_MASK = '0xfbff';

/** An agent whose sha256 PCRs 0-15 are what the fixture event log replays to. */
function bootedAgent(id: string): SoftAgent {
  const a = new SoftAgent(id);
  const bank = [...replayEventLog(parseEventLog(FIXTURE)).banks.values()].find((b) => b.alg === 'sha256')!;
  for (const [pcr, value] of bank.pcrs) if (pcr !== 10 && pcr < 16) a.pcrs.set(pcr, Buffer.from(value));
  a.eventLog = FIXTURE;
  return a;
}

describe('runtime (IMA) policy evaluation', () => {
  it('attests an IMA log incrementally and fails on a file the policy does not list', async () => {
    const h = await makeHarness({ evaluators: [measuredBootEvaluator(), imaEvaluator()] });
    const a = new SoftAgent('ima-agent');
    a.measure('/usr/bin/bash');
    await h.enroll(a, { runtime_policy: b64(runtimePolicy({ '/usr/bin/bash': [sha256('/usr/bin/bash')], '/usr/lib/libc.so.6': [sha256('/usr/lib/libc.so.6')] })), tpm_policy: '{"mask": "0x400"}' });
    expect(h.agent('ima-agent')).toMatchObject({ operational_state: State.GET_QUOTE, attestation_count: 1, last_event_id: null });
    a.measure('/usr/lib/libc.so.6');
    await h.advance(2000);
    a.measure('/usr/bin/bash');
    await h.advance(2000);
    expect(h.agent('ima-agent')!.attestation_count).toBe(3);
    expect(h.api.callsOf('ima-agent', 'quote').map((c) => c.params!.imaMlEntry)).toEqual([0, 1, 2]);
    expect((h.agent('ima-agent')!.evidence_state.ima as { nextEntry: number }).nextEntry).toBe(3);

    a.measure('/tmp/evil');
    await h.advance(2000);
    expect(h.agent('ima-agent')).toMatchObject({ operational_state: State.INVALID_QUOTE, last_event_id: 'ima.validation.ima-ng.not_in_allowlist' });
    expect(h.sink.sent.at(-1)!.event!.contextJson).toBe('{"message": "File not found in allowlist: /tmp/evil"}');
  });

  it('a quoted PCR 10 without a list is unused_pcr_10; a log that does not reach the quoted PCR 10 is ima.pcr_mismatch', async () => {
    const h = await makeHarness({ evaluators: [imaEvaluator()] });
    const a = new SoftAgent('no-list');
    await h.enroll(a, { runtime_policy: b64(runtimePolicy({ '/x': [sha256('/x')] })), tpm_policy: '{"mask": "0x400"}' });
    expect(h.agent('no-list')!.last_event_id).toBe('pcr_validation.unused_pcr_10');

    const b = new SoftAgent('hidden');
    b.measure('/x');
    b.extend(10, Buffer.alloc(32, 0xee)); // a measurement the log does not show
    await h.enroll(b, { runtime_policy: b64(runtimePolicy({ '/x': [sha256('/x')] })), tpm_policy: '{"mask": "0x400"}', runtime_policy_name: 'shared' });
    expect(h.agent('hidden')!.last_event_id).toBe('ima.pcr_mismatch');
  });

  it('refuses a runtime policy whose mask leaves PCR 10 out', async () => {
    const h = await makeHarness({ evaluators: [imaEvaluator()] });
    const a = new SoftAgent('mask');
    await expect(addAgent(h.deps, 'mask', enrollmentBody(a, { runtime_policy: b64(runtimePolicy({ '/x': [sha256('/x')] })) }))).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('PCR 10'),
    });
  });
});

describe('measured boot policy evaluation', () => {
  it('passes when the event log replays to the quoted PCRs, fails with measured_boot.invalid_pcr_N when one differs', async () => {
    const h = await makeHarness({ evaluators: [measuredBootEvaluator(), imaEvaluator()] });
    const a = bootedAgent('mb-agent');
    await h.enroll(a, { mb_policy: '{"accept": "anything"}', mb_policy_name: '', tpm_policy: `{"mask": "${MB_MASK}"}`, supported_version: '2.3' });
    expect(h.agent('mb-agent')).toMatchObject({ operational_state: State.GET_QUOTE, last_event_id: null });
    expect(h.api.callsOf('mb-agent', 'quote')[0]!.params!.mask).toBe(MB_MASK);
    await h.advance(2000);
    expect(h.agent('mb-agent')!.attestation_count).toBe(2);
    a.extend(4, Buffer.alloc(32, 1));
    await h.advance(2000);
    expect(h.agent('mb-agent')).toMatchObject({ operational_state: State.INVALID_QUOTE, last_event_id: 'measured_boot.invalid_pcr_4' });
  });

  it('an MB policy with no event log sent is unused_pcr_N; the engine verdict counts (reject-all)', async () => {
    const h = await makeHarness({ evaluators: [measuredBootEvaluator()] });
    const a = bootedAgent('no-log');
    a.eventLog = undefined;
    await h.enroll(a, { mb_policy: '{"x": 1}', tpm_policy: `{"mask": "${MB_MASK}"}` });
    expect(h.agent('no-log')!.last_event_id).toBe('pcr_validation.unused_pcr_0');

    const h2 = await makeHarness({ evaluators: [measuredBootEvaluator({ policyName: 'reject-all' })] });
    await h2.enroll(bootedAgent('rejected'), { mb_policy: '{"x": 1}', tpm_policy: `{"mask": "${MB_MASK}"}` });
    expect(h2.agent('rejected')!.last_event_id).toBe('measured_boot.policy_reject-all');
  });

  it('an empty refstate ({}) is no policy, and an MB policy needs PCR 0 in the mask', async () => {
    const h = await makeHarness({ evaluators: [measuredBootEvaluator()] });
    await h.enroll(new SoftAgent('empty-ref'), { mb_policy: '{}' });
    expect(h.agent('empty-ref')!.operational_state).toBe(State.GET_QUOTE);
    const a = bootedAgent('nomask');
    await expect(addAgent(h.deps, 'nomask', enrollmentBody(a, { mb_policy: '{"x": 1}', tpm_policy: '{"mask": "0x2"}' }))).rejects.toMatchObject({ status: 400 });
  });
});
