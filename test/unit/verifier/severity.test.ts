import { describe, expect, it } from 'vitest';
import { SeverityPolicy } from '../../../src/servers/verifier/severity.js';

const ev = (eventId: string, recoverable = true) => ({ eventId, recoverable, context: { message: 'm' } });

describe('severity policy (§5.4)', () => {
  it('defaults every event to emergency, the highest label', () => {
    const p = new SeverityPolicy();
    const f = p.failure([ev('pcr_validation.invalid_pcr_15')])!;
    expect(f.highest).toMatchObject({ severityLabel: 'emergency', severityLevel: 6, contextJson: '{"message": "m"}' });
    expect(p.failure([])).toBeUndefined();
  });

  it('first matching rule wins (full match), irrecoverable events are forced to the maximum, the first highest event is kept', () => {
    const p = new SeverityPolicy([
      { event_id: 'pcr_validation\\.invalid_pcr_1', severity_label: 'info' },
      { event_id: 'pcr_validation\\..*', severity_label: 'warning' },
      { event_id: 'ima\\..*', severity_label: 'error' },
    ]);
    expect(p.rank(ev('pcr_validation.invalid_pcr_1')).severityLabel).toBe('info');
    expect(p.rank(ev('pcr_validation.invalid_pcr_15')).severityLabel).toBe('warning');
    expect(p.rank(ev('x.pcr_validation.invalid_pcr_1')).severityLabel).toBe('emergency');
    expect(p.rank(ev('pcr_validation.invalid_pcr_1', false)).severityLabel).toBe('emergency');
    const f = p.failure([ev('pcr_validation.invalid_pcr_1'), ev('ima.pcr_mismatch'), ev('ima.quote_progress'), ev('pcr_validation.missing_pcrs')])!;
    expect(f.highest.eventId).toBe('ima.pcr_mismatch');
    expect(f.recoverable).toBe(true);
    expect(p.failure([ev('a'), ev('b', false)])!.recoverable).toBe(false);
  });

  it('parses a policy file (list, or object with labels) and names what is wrong', () => {
    const p = SeverityPolicy.parse('{"severity_labels": ["low", "high"], "severity_policy": [{"event_id": "a.*", "severity_label": "low"}]}');
    expect(p.labels).toEqual(['low', 'high']);
    expect(p.rank(ev('abc')).severityLabel).toBe('low');
    expect(SeverityPolicy.parse('[{"event_id": ".*", "severity_label": "notice"}]').rank(ev('x')).severityLevel).toBe(1);
    expect(() => SeverityPolicy.parse('{')).toThrow(/not JSON/);
    expect(() => SeverityPolicy.parse('[{"event_id": ".*", "severity_label": "nope"}]')).toThrow(/unknown severity_label 'nope'/);
    expect(() => SeverityPolicy.parse('[{"event_id": "(", "severity_label": "info"}]')).toThrow(/regular expression/);
    expect(() => SeverityPolicy.parse('{"x": 1}')).toThrow(/severity_policy/);
  });
});
