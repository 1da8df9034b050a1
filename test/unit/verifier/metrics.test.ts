import { describe, expect, it } from 'vitest';
import { metricsSnapshot } from '../../../src/servers/verifier/service.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { makeHarness } from './harness.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format (0.0.4): every line is a comment or a sample. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  expect(text.endsWith('\n')).toBe(true);
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# HELP ')) continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      expect(types.has(t[1]!)).toBe(false);
      types.set(t[1]!, t[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(m[1]!) || types.has(family)).toBe(true);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

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
    const { samples, types } = parsePrometheus(text);
    expect(types.get('keylime_verifier_poll_duration_seconds')).toBe('histogram');
    expect(value(samples, 'keylime_verifier_agents', { state: '3', state_name: 'Get Quote' })).toBe(1);
    expect(value(samples, 'keylime_verifier_agents', { state: '9', state_name: 'Invalid Quote' })).toBe(1);
    expect(value(samples, 'keylime_verifier_agents', { state: '7' })).toBe(0);
    const passes = h.store.get('good')!.attestation_count + h.store.get('bad')!.attestation_count;
    expect(value(samples, 'keylime_verifier_attestations_total')).toBe(passes);
    expect(value(samples, 'keylime_verifier_polls_total', { outcome: 'pass' })).toBe(passes);
    expect(value(samples, 'keylime_verifier_polls_total', { outcome: 'fail' })).toBe(1);
    expect(value(samples, 'keylime_verifier_failure_events_total', { event_id: 'pcr_validation.invalid_pcr_15' })).toBe(1);
    expect(value(samples, 'keylime_verifier_v_deliveries_total')).toBe(2);
    expect(value(samples, 'keylime_verifier_poll_duration_seconds_count')).toBe(h.api.calls.filter((c) => c.kind === 'quote').length);
    expect(value(samples, 'keylime_verifier_poll_duration_seconds_bucket', { le: '+Inf' })).toBe(value(samples, 'keylime_verifier_poll_duration_seconds_count'));
    expect(value(samples, 'keylime_verifier_last_successful_attestation_age_seconds', { agent_id: 'good' })).toBe(0);
    expect(value(samples, 'keylime_verifier_last_successful_attestation_age_seconds', { agent_id: 'bad' })).toBeUndefined();
  });

  it('escapes label values', () => {
    expect(() => parsePrometheus('# TYPE x counter\nx{a="q\\"uote\\\\"} 1\n')).not.toThrow();
  });
});
