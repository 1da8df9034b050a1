import { describe, expect, it } from 'vitest';
import { metricsSnapshot } from '../../../src/servers/verifier/service.js';
import { parsePrometheus, promValue } from '../../support/prometheus.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { makeHarness } from './harness.js';

describe('metrics', () => {
  it('parse as Prometheus text and count what happened', async () => {
    const h = await makeHarness();
    const good = new SoftAgent('good');
    const bad = new SoftAgent('bad');
    await h.enroll(good);
    await h.enroll(bad, { tpm_policy: JSON.stringify({ '15': [bad.pcrs.get(15)!.toString('hex')], mask: '0x8000' }) });
    bad.extend(15, Buffer.alloc(32, 5));
    await h.advance(6000);
    const text = h.metrics.render(metricsSnapshot(h.deps));
    const parsed = parsePrometheus(text);
    const { types } = parsed;
    const value = (name: string, labels: Record<string, string> = {}) => promValue(parsed, name, labels);
    expect(types.get('keylime_verifier_poll_duration_seconds')).toBe('histogram');
    expect(value('keylime_verifier_agents', { state: '3', state_name: 'Get Quote' })).toBe(1);
    expect(value('keylime_verifier_agents', { state: '9', state_name: 'Invalid Quote' })).toBe(1);
    expect(value('keylime_verifier_agents', { state: '7' })).toBe(0);
    const passes = h.store.get('good')!.attestation_count + h.store.get('bad')!.attestation_count;
    expect(value('keylime_verifier_attestations_total')).toBe(passes);
    expect(value('keylime_verifier_polls_total', { outcome: 'pass' })).toBe(passes);
    expect(value('keylime_verifier_polls_total', { outcome: 'fail' })).toBe(1);
    expect(value('keylime_verifier_failure_events_total', { event_id: 'pcr_validation.invalid_pcr_15' })).toBe(1);
    expect(value('keylime_verifier_v_deliveries_total')).toBe(2);
    expect(value('keylime_verifier_poll_duration_seconds_count')).toBe(h.api.calls.filter((c) => c.kind === 'quote').length);
    expect(value('keylime_verifier_poll_duration_seconds_bucket', { le: '+Inf' })).toBe(value('keylime_verifier_poll_duration_seconds_count'));
    expect(value('keylime_verifier_last_successful_attestation_age_seconds', { agent_id: 'good' })).toBe(0);
    expect(value('keylime_verifier_last_successful_attestation_age_seconds', { agent_id: 'bad' })).toBeUndefined();
  });

  it('escapes label values', () => {
    expect(promValue(parsePrometheus('# TYPE x counter\nx{a="q\\"uote\\\\"} 1\n'), 'x')).toBe(1);
    expect(() => parsePrometheus('# TYPE x counter\nx{a="b"} one\n')).toThrow();
    expect(() => parsePrometheus('y 1\n')).toThrow(/undeclared/);
  });
});
