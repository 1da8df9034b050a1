import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deleteAgent, reactivateAgent, stopAgent } from '../../../src/servers/verifier/service.js';
import { SeverityPolicy } from '../../../src/servers/verifier/severity.js';
import { State } from '../../../src/servers/verifier/states.js';
import { VerifierStore } from '../../../src/servers/verifier/store.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { V, makeHarness } from './harness.js';

const POLICY_15 = (agent: SoftAgent) => JSON.stringify({ '15': [agent.pcrs.get(15)!.toString('hex')], mask: '0x8000' });

describe('attestation loop', () => {
  it('adds an agent, quotes with partial=0 then partial=1 every quote_interval, delivers V exactly once', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('agent-1');
    await h.enroll(a);
    expect(h.agent('agent-1')!.operational_state).toBe(State.GET_QUOTE);
    expect(h.agent('agent-1')!.attestation_count).toBe(1);
    expect(a.vkeys.map((v) => v.toString('base64'))).toEqual([V]);

    for (let i = 2; i <= 5; i++) {
      await h.advance(2000);
      expect(h.agent('agent-1')!.attestation_count).toBe(i);
    }
    const quotes = h.api.callsOf('agent-1', 'quote');
    expect(quotes.map((c) => c.params!.partial)).toEqual([0, 1, 1, 1, 1]);
    expect(quotes.map((c) => c.at - quotes[0]!.at)).toEqual([0, 2000, 4000, 6000, 8000]);
    expect(quotes.every((c) => c.params!.mask === '0x0' && c.version === '2.1' && c.params!.imaMlEntry === 0)).toBe(true);
    expect(new Set(quotes.map((c) => c.params!.nonce)).size).toBe(5);
    expect(a.vkeys).toHaveLength(1);
    expect(h.api.callsOf('agent-1', 'vkey')).toHaveLength(1);
    const stored = h.agent('agent-1')!;
    expect(stored.public_key).toBe(a.nkPem);
    expect([stored.hash_alg, stored.enc_alg, stored.sign_alg]).toEqual(['sha256', 'rsa', 'rsassa']);
    expect(stored.last_successful_attestation).toBe(Math.floor(h.clock.now() / 1000));
    expect(stored.tpm_clockinfo).toEqual(a.clock);
    expect(h.metrics.attestations.get()).toBe(5);
    expect(h.metrics.vDeliveries.get()).toBe(1);
  });

  it('sends no V when the tenant gave none', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('no-v');
    await h.enroll(a, { v: null });
    await h.advance(4000);
    expect(h.api.callsOf('no-v', 'vkey')).toHaveLength(0);
    expect(h.agent('no-v')!.attestation_count).toBe(3);
  });

  it('delivers V once even to an agent that always returns its key, and again when the NK changes', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('chatty');
    a.ignorePartial = true;
    await h.enroll(a);
    await h.advance(6000);
    expect(a.vkeys).toHaveLength(1);
    a.nkPem = new SoftAgent('other', 1).nkPem; // a new NK (its private half is another agent's; only the count matters)
    const other = new SoftAgent('other', 1);
    (a as unknown as { nkPrivate: unknown }).nkPrivate = other.nkPrivate;
    await h.advance(2000);
    expect(a.vkeys).toHaveLength(2);
    expect(a.vkeys[1]!.toString('base64')).toBe(V);
    expect(h.agent('chatty')!.public_key).toBe(other.nkPem);
  });

  it('a policy PCR that changes makes the quote invalid: INVALID_QUOTE with invalid_pcr_15, notification, polling stops', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('pcr');
    await h.enroll(a, { tpm_policy: POLICY_15(a) });
    await h.advance(2000);
    expect(h.agent('pcr')!.attestation_count).toBe(2);
    expect(h.api.callsOf('pcr', 'quote').every((c) => c.params!.mask === '0x8000')).toBe(true);

    a.extend(15, createHash('sha256').update('evil').digest());
    await h.advance(2000);
    const stored = h.agent('pcr')!;
    expect(stored.operational_state).toBe(State.INVALID_QUOTE);
    expect(stored.last_event_id).toBe('pcr_validation.invalid_pcr_15');
    expect(stored.severity_level).toBe(6);
    expect(stored.attestation_count).toBe(2);
    expect(h.sink.sent).toHaveLength(1);
    expect(h.sink.sent[0]!.type).toBe('revocation');
    expect(h.sink.sent[0]!.event!.eventId).toBe('pcr_validation.invalid_pcr_15');
    expect(JSON.parse(h.sink.sent[0]!.event!.contextJson)).toEqual({
      context: 'PCR value is not in allowlist',
      got: a.pcrs.get(15)!.toString('hex'),
      expected: [Buffer.alloc(32).toString('hex')],
    });
    const before = h.api.calls.length;
    await h.advance(20_000);
    expect(h.api.calls.length).toBe(before);
    expect(h.machine.isPolling('pcr')).toBe(false);
    expect(h.metrics.failures.get({ event_id: 'pcr_validation.invalid_pcr_15' })).toBe(1);
  });

  it('a changed NK binding (PCR 16) and a replayed quote are failures', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('pcr16');
    await h.enroll(a);
    a.boundPem = 'not the key it returns';
    await h.advance(2000);
    expect(h.agent('pcr16')!.last_event_id).toBe('pcr_validation.invalid_pcr_16');

    const h2 = await makeHarness();
    const b = new SoftAgent('replay');
    await h2.enroll(b);
    const stale = b.integrity({ nonce: 'someoldnonce00000000', mask: '0x0', partial: 1 });
    h2.api.override = (_id, kind) => (kind === 'quote' ? { status: 200, message: 'Success', results: stale } : undefined);
    await h2.advance(2000);
    expect(h2.agent('replay')!.operational_state).toBe(State.INVALID_QUOTE);
    expect(h2.agent('replay')!.last_event_id).toBe('qoute_validation.quote_validation');
  });

  it('a TPM clock that goes back is refused', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('clock');
    await h.enroll(a);
    a.clock = { ...a.clock, clock: 10 };
    await h.advance(2000);
    expect(h.agent('clock')!.last_event_id).toBe('qoute_validation.quote_validation');
  });

  it('refuses answers in algorithms the tenant did not accept, and answers without any key', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('algs');
    await h.enroll(a, { accept_tpm_hash_algs: ['sha384'] });
    expect(h.agent('algs')!.last_event_id).toBe('qoute_validation.invalid_hash_alg');
    expect(h.agent('algs')!.operational_state).toBe(State.INVALID_QUOTE);

    const h2 = await makeHarness();
    const b = new SoftAgent('nokey');
    h2.api.override = (_id, kind, _v) => {
      if (kind !== 'quote') return undefined;
      const results = b.integrity({ nonce: h2.nonces.at(-1)!, mask: '0x0', partial: 1 });
      return { status: 200, message: 'Success', results };
    };
    await h2.enroll(b);
    expect(h2.agent('nokey')!.last_event_id).toBe('qoute_validation.no_pubkey');

    const h3 = await makeHarness();
    const c = new SoftAgent('garbage');
    h3.api.override = (_id, kind) => (kind === 'quote' ? { status: 200, message: 'Success', results: { quote: 42 } } : undefined);
    await h3.enroll(c);
    expect(h3.agent('garbage')!.last_event_id).toBe('qoute_validation.invalid_data');
  });
});

describe('retries, failures and tenant actions', () => {
  it('retries an unreachable agent with exponential backoff, then FAILED not_reachable and comm_error; reactivate resumes', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('flaky');
    await h.enroll(a);
    h.api.down.add('flaky');
    const t0 = h.api.callsOf('flaky', 'quote')[0]!.at;
    await h.advance(2000 + 2000 + 4000 + 8000 + 16000 + 32000 + 1000);
    // After the first good quote: the regular one at +2 s fails, then retries after 2, 4, 8, 16, 32 s.
    const failing = h.api.callsOf('flaky', 'quote').slice(1);
    expect(failing.map((c) => c.at - t0)).toEqual([2000, 4000, 8000, 16000, 32000, 64000]);
    expect(failing.map((c) => c.params!.partial)).toEqual([1, 0, 0, 0, 0, 0]);
    const stored = h.agent('flaky')!;
    expect(stored.operational_state).toBe(State.FAILED);
    expect(stored.last_event_id).toBe('internal.verifier.not_reachable');
    expect(h.sink.sent.map((s) => [s.type, s.event?.eventId])).toEqual([['comm_error', 'internal.verifier.not_reachable']]);
    expect(h.machine.isPolling('flaky')).toBe(false);

    h.api.down.delete('flaky');
    await reactivateAgent(h.deps, 'flaky');
    await h.settle();
    const after = h.agent('flaky')!;
    expect(after.operational_state).toBe(State.GET_QUOTE);
    expect(after.severity_level).toBeNull();
    expect(after.attestation_count).toBe(2);
    expect(a.vkeys).toHaveLength(2); // V again after reactivation
    await h.advance(2000);
    expect(h.agent('flaky')!.attestation_count).toBe(3);
  });

  it('does not notify comm_error for an agent that never attested, and marks retry states', async () => {
    const h = await makeHarness({ maxRetries: 2 });
    const a = new SoftAgent('never');
    h.api.down.add('never');
    await h.enroll(a);
    expect(h.agent('never')!.operational_state).toBe(State.GET_QUOTE_RETRY);
    await h.advance(2000 + 4000 + 100);
    expect(h.agent('never')!.operational_state).toBe(State.FAILED);
    expect(h.sink.sent).toEqual([]);
  });

  it('retries V delivery, then fails with not_reachable_v and a comm_error', async () => {
    const h = await makeHarness({ maxRetries: 1 });
    const a = new SoftAgent('novkey');
    h.api.override = (_id, kind) => (kind === 'vkey' ? { status: 500, message: 'boom', results: {} } : undefined);
    await h.enroll(a);
    expect(h.agent('novkey')!.operational_state).toBe(State.PROVIDE_V_RETRY);
    await h.advance(2100);
    expect(h.agent('novkey')!.operational_state).toBe(State.FAILED);
    expect(h.agent('novkey')!.last_event_id).toBe('internal.verifier.not_reachable_v');
    expect(h.sink.sent.map((s) => s.type)).toEqual(['comm_error']);
  });

  it('an unexpected answer fails the agent with no_quote / no_v', async () => {
    const h = await makeHarness();
    h.api.override = (_id, kind) => (kind === 'quote' ? { status: 404, message: 'Not Found', results: {} } : undefined);
    await h.enroll(new SoftAgent('nq'));
    expect(h.agent('nq')!.last_event_id).toBe('internal.verifier.no_quote');
    expect(h.agent('nq')!.operational_state).toBe(State.FAILED);

    const h2 = await makeHarness();
    h2.api.override = (_id, kind) => (kind === 'vkey' ? { status: 400, message: 'Decrypted key is invalid', results: {} } : undefined);
    await h2.enroll(new SoftAgent('nv'));
    expect(h2.agent('nv')!.last_event_id).toBe('internal.verifier.no_v');
  });

  it('renegotiates the API version on "API version not supported", and fails when there is none in common', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('old-api');
    h.api.versions.set('old-api', ['2.1', '2.2']);
    await h.enroll(a, { supported_version: '2.5' });
    expect(h.agent('old-api')!.supported_version).toBe('2.2');
    expect(h.agent('old-api')!.operational_state).toBe(State.GET_QUOTE);
    expect(h.api.callsOf('old-api', 'quote').map((c) => c.version)).toEqual(['2.5', '2.2']);
    expect(h.api.callsOf('old-api', 'vkey').map((c) => c.version)).toEqual(['2.2']);

    const h2 = await makeHarness();
    h2.api.versions.set('future', ['3.0']);
    await h2.enroll(new SoftAgent('future'), { supported_version: '2.1' });
    expect(h2.agent('future')!.operational_state).toBe(State.FAILED);
    expect(h2.agent('future')!.last_event_id).toBe('internal.verifier.version_not_supported');
  });

  it('DELETE: 200 at once when idle; 202 while a request is in flight, then gone when it returns', async () => {
    const h = await makeHarness();
    await h.enroll(new SoftAgent('idle'));
    expect(await deleteAgent(h.deps, 'idle')).toBe(200);
    expect(h.agent('idle')).toBeUndefined();
    expect(h.store.runtimePolicy('idle')).toBeUndefined();
    await h.advance(4000);
    expect(h.api.callsOf('idle', 'quote')).toHaveLength(1);

    await h.enroll(new SoftAgent('busy'));
    const release = h.api.hold('busy');
    h.clock.advance(2000); // the next quote starts and hangs
    await Promise.resolve();
    expect(h.machine.inFlight('busy')).toBe(true);
    expect(await deleteAgent(h.deps, 'busy')).toBe(202);
    expect(h.agent('busy')!.operational_state).toBe(State.TERMINATED);
    expect(await deleteAgent(h.deps, 'busy')).toBe(202);
    release();
    await h.settle();
    expect(h.agent('busy')).toBeUndefined();
    await expect(deleteAgent(h.deps, 'busy')).rejects.toMatchObject({ status: 404 });
  });

  it('stop halts polling and keeps the record; reactivate starts again with a fresh quote and V', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('stoppable');
    await h.enroll(a);
    await stopAgent(h.deps, 'stoppable');
    const n = h.api.calls.length;
    await h.advance(10_000);
    expect(h.api.calls.length).toBe(n);
    expect(h.agent('stoppable')!.operational_state).toBe(State.TENANT_FAILED);
    await reactivateAgent(h.deps, 'stoppable');
    await h.settle();
    expect(h.agent('stoppable')!.operational_state).toBe(State.GET_QUOTE);
    expect(h.api.callsOf('stoppable', 'quote').at(-1)!.params!.partial).toBe(0);
    expect(a.vkeys).toHaveLength(2);
    await expect(stopAgent(h.deps, 'unknown')).rejects.toMatchObject({ status: 400, message: 'Exception error: No row was found when one was required' });
  });

  it('a stop during an in-flight quote discards its answer', async () => {
    const h = await makeHarness();
    await h.enroll(new SoftAgent('mid'));
    const release = h.api.hold('mid');
    h.clock.advance(2000);
    await Promise.resolve();
    await stopAgent(h.deps, 'mid');
    release();
    await h.settle();
    expect(h.agent('mid')!.operational_state).toBe(State.TENANT_FAILED);
    expect(h.agent('mid')!.attestation_count).toBe(1);
  });

  it('with a severity policy that ranks PCR mismatches low, the agent stays polled and recovers', async () => {
    const severity = new SeverityPolicy([
      { event_id: 'pcr_validation\\.invalid_pcr_.*', severity_label: 'warning' },
      { event_id: '.*', severity_label: 'emergency' },
    ]);
    const h = await makeHarness({ severity });
    const a = new SoftAgent('soft');
    await h.enroll(a, { tpm_policy: POLICY_15(a) });
    const good = a.pcrs.get(15)!;
    a.extend(15, Buffer.alloc(32, 9));
    await h.advance(2000);
    expect(h.agent('soft')!.operational_state).toBe(State.INVALID_QUOTE);
    expect(h.agent('soft')!.severity_level).toBe(2);
    expect(h.sink.sent).toHaveLength(1);
    await h.advance(2000);
    expect(h.sink.sent).toHaveLength(1); // same severity: no new notification
    a.pcrs.set(15, good);
    await h.advance(2000);
    expect(h.agent('soft')!.operational_state).toBe(State.GET_QUOTE);
    expect(h.agent('soft')!.last_event_id).toBe('pcr_validation.invalid_pcr_15');
    expect(h.machine.isPolling('soft')).toBe(true);
  });
});

describe('many agents and restarts', () => {
  it('bounds concurrency, and a slow agent does not delay the others', async () => {
    const h = await makeHarness({ concurrency: 3 });
    const agents = Array.from({ length: 8 }, (_, i) => new SoftAgent(`m${i}`));
    for (const a of agents) await h.enroll(a);
    const release = h.api.hold('m0');
    h.api.maxInFlight = 0;
    await h.advance(10_000);
    expect(h.api.maxInFlight).toBeLessThanOrEqual(3);
    for (const a of agents.slice(1)) expect(h.agent(a.id)!.attestation_count).toBe(6);
    expect(h.agent('m0')!.attestation_count).toBe(1);
    release();
    await h.settle();
    expect(h.agent('m0')!.attestation_count).toBe(2);
  });

  it('after a crash every agent of this verifier in {1,3,4,5,6} resumes; failed ones stay; counters lag at most one flush', async () => {
    const h = await makeHarness();
    const good = [new SoftAgent('r1'), new SoftAgent('r2')];
    for (const a of good) await h.enroll(a);
    const bad = new SoftAgent('r3');
    await h.enroll(bad, { tpm_policy: POLICY_15(bad) });
    bad.extend(15, Buffer.alloc(32, 1));
    await h.advance(2000);
    await h.store.flush();
    await h.advance(4000); // counters after the flush are only in memory
    expect(h.agent('r1')!.attestation_count).toBe(4);
    // "Crash": abandon the machine without flushing, open the files again.
    await h.machine.scheduler.close();

    const reopened = await VerifierStore.open(h.dir);
    expect(reopened.get('r1')!.attestation_count).toBe(2);
    expect(reopened.get('r3')!.operational_state).toBe(State.INVALID_QUOTE);

    const h2 = await makeHarness({ dir: h.dir, api: h.api, clock: h.clock });
    const resumed = await h2.machine.resumeAll();
    expect(resumed.sort()).toEqual(['r1', 'r2']);
    await h2.settle();
    expect(h2.agent('r1')!.attestation_count).toBe(3);
    expect(h2.agent('r3')!.operational_state).toBe(State.INVALID_QUOTE);
    expect(good[0]!.vkeys).toHaveLength(2); // V is delivered again after a restart, as Keylime does
    await h2.advance(2000);
    expect(h2.agent('r2')!.attestation_count).toBe(4);
  });

  it('only this verifier_id resumes', async () => {
    const h = await makeHarness();
    await h.enroll(new SoftAgent('mine'));
    await h.store.patch('mine', (a) => void (a.verifier_id = 'other'));
    await h.machine.close();
    const h2 = await makeHarness({ dir: h.dir, api: h.api, clock: h.clock });
    expect(await h2.machine.resumeAll()).toEqual([]);
  });
});
