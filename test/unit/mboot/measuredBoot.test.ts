import { describe, expect, it } from 'vitest';
import { checkMeasuredBoot, decodeMbMeasurementList } from '../../../src/mboot/measuredBoot.js';
import { parseEventLog } from '../../../src/mboot/parser.js';
import { createMbRefstate } from '../../../src/mboot/policy/createRefstate.js';
import { replayEventLog } from '../../../src/mboot/replay.js';
import { stripLeadingZeros, measuredBootPcrsToCheck } from '../../../src/mboot/compare.js';
import { ParseError } from '../../../src/errors.js';
import { ascii, EV, EventLogBuilder, linuxBoot } from './builder.js';

const builder = linuxBoot({ startupLocality: 3 });
const bytes = builder.build();
const log = parseEventLog(bytes);
const refstate = createMbRefstate(log, { relaxed: true }).refstate;
const expected = builder.expectedPcrs('sha256', 3);
const quoted = (over: Record<number, string> = {}): Record<number, string> => ({ ...Object.fromEntries(expected), ...over });

describe('replayEventLog on a synthetic log', () => {
  it('matches the PCR values the builder computes, for each bank, PCR 0 seeded with the locality', () => {
    const replay = replayEventLog(log);
    expect(replay.startupLocality).toBe(3);
    for (const alg of ['sha1', 'sha256'] as const) {
      const ours = new Map([...replay.banks.get(alg)!.pcrs].map(([k, v]) => [k, v.toString('hex')]));
      expect(ours).toEqual(builder.expectedPcrs(alg, 3));
    }
  });

  it('an H-CRTM event seeds PCR 0 with 4; a StartupLocality event for another PCR does not count', () => {
    const h = new EventLogBuilder(['sha256']).noAction(0, Buffer.concat([ascii('StartupLocality\0'), Buffer.from([3])])).add(0, 0x80000010, ascii('HCRTM'));
    expect(replayEventLog(parseEventLog(h.build())).banks.get('sha256')!.pcrs.get(0)!.toString('hex')).toBe(h.expectedPcrs('sha256', 4).get(0));
    const other = new EventLogBuilder(['sha256']).noAction(1, Buffer.concat([ascii('StartupLocality\0'), Buffer.from([3])])).add(0, EV.SEPARATOR, Buffer.alloc(4));
    expect(replayEventLog(parseEventLog(other.build())).banks.get('sha256')!.pcrs.get(0)!.toString('hex')).toBe(other.expectedPcrs('sha256', 0).get(0));
  });
});

describe('checkMeasuredBoot', () => {
  const run = (over: Partial<Parameters<typeof checkMeasuredBoot>[0]> = {}) =>
    checkMeasuredBoot({ eventLog: bytes, quotedPcrs: quoted(), hashAlg: 'sha256', mbPolicy: refstate, policyName: 'example-relaxed', ...over });

  it('passes when the quote matches the replay and the policy accepts the log', () => {
    const r = run();
    expect(r.failures).toEqual([]);
    expect(r.evaluated).toBe(true);
    expect(r.checkedPcrs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]);
  });

  it('compares without leading zeros: an unextended PCR equals an all-zero quoted one; short hex is fine', () => {
    const v = expected.get(4)!;
    const short = v.replace(/^0+/, '');
    expect(run({ quotedPcrs: quoted({ 3: '0'.repeat(64), 4: short.toUpperCase() }) }).failures.map((f) => f.id)).toEqual(['measured_boot.invalid_pcr_3']);
    expect(run({ quotedPcrs: quoted({ 11: '0'.repeat(64), 4: short }), policyName: 'accept-all' }).failures).toEqual([]);
    expect(stripLeadingZeros('0x000ab')).toBe('ab');
    expect(stripLeadingZeros('0000')).toBe('');
  });

  it('reports each differing PCR with the quoted value as got and the log value as expected', () => {
    const r = run({ quotedPcrs: quoted({ 4: 'ff'.repeat(32), 9: '01'.repeat(32) }) });
    expect(r.failures.map((f) => [f.id, f.context.got, f.context.expected])).toEqual([
      ['measured_boot.invalid_pcr_4', 'ff'.repeat(32), expected.get(4)],
      ['measured_boot.invalid_pcr_9', '01'.repeat(32), expected.get(9)],
    ]);
    expect(r.evaluated).toBe(true);
  });

  it('only compares PCRs the policy cares about; accept-all compares every quoted MB PCR', () => {
    expect(measuredBootPcrsToCheck([0, 1, 10, 11, 15, 16], new Set([0, 14]))).toEqual([0]);
    expect(measuredBootPcrsToCheck([0, 1, 10, 11, 15, 16], null)).toEqual([0, 1, 11, 15]);
    expect(run({ quotedPcrs: quoted({ 12: 'aa' }) }).failures).toEqual([]);
    expect(run({ quotedPcrs: quoted({ 12: 'aa' }), policyName: 'accept-all' }).failures.map((f) => f.id)).toEqual(['measured_boot.invalid_pcr_12']);
  });

  it('skips evaluation when PCRs the policy needs are missing from the quote', () => {
    const q = quoted();
    delete q[14];
    const r = run({ quotedPcrs: q });
    expect(r.failures).toEqual([{ id: 'measured_boot.missing_pcrs', recoverable: true, context: expect.objectContaining({ missing: [14] }) }]);
    expect(r.evaluated).toBe(false);
  });

  it('reports a policy failure as measured_boot.policy_<name> with the refstate and the reason', () => {
    const r = run({ policyName: 'example' });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({
      id: 'measured_boot.policy_example',
      context: { context: 'Boot attestation failed', policy: 'example', refstate: JSON.stringify(refstate), reason: 'event #1 (PCR 0, EV_NO_ACTION, StartupLocality 3) test was already run once' },
    });
    expect(run({ policyName: 'reject-all' }).failures.map((f) => f.id)).toEqual(['measured_boot.policy_reject-all']);
    expect(run({ evaluate: false, policyName: 'example' }).failures).toEqual([]);
  });

  it('no policy ({} / null / ""): no comparison and no evaluation, but the log is still parsed for boot aggregates', () => {
    for (const mbPolicy of [{}, null, '', '{}', undefined]) {
      const r = run({ mbPolicy, quotedPcrs: quoted({ 4: 'ff' }) });
      expect(r.failures).toEqual([]);
      expect(r.checkedPcrs).toEqual([]);
      expect(r.bootAggregates.sha256).toHaveLength(2);
    }
  });

  it('no log but MB PCRs quoted: pcr_validation.unused_pcr_N for each', () => {
    const r = run({ eventLog: undefined, quotedPcrs: { 0: 'aa', 4: 'bb', 10: 'cc' } });
    expect(r.failures.map((f) => f.id)).toEqual(['pcr_validation.unused_pcr_0', 'pcr_validation.unused_pcr_4']);
  });

  it('a malformed log or mb_policy becomes a failure event, never an exception', () => {
    const garbage = run({ eventLog: Buffer.from('not an event log at all, just text') });
    expect(garbage.failures).toEqual([{ id: 'measured_boot.parser.tpm2_eventlog.error', recoverable: true, context: expect.objectContaining({ code: 1, data: expect.stringMatching(/byte offset/) }) }]);
    expect(run({ eventLog: 'not base64!' }).failures[0]!.id).toBe('measured_boot.parser.tpm2_eventlog.error');
    expect(run({ mbPolicy: '{"pk": ' }).failures.map((f) => f.id)).toEqual(['pcr_validation.invalid_mb_policy']);
    expect(run({ mbPolicy: '[1]' }).failures[0]!.context.reason).toMatch(/^policy evaluation failed: /);
    expect(run({ hashAlg: 'sha384' }).failures.map((f) => f.id)).toEqual(['measured_boot.parser.invalid_pcrs_hashes']);
  });

  it('decodes mb_measurement_list strictly', () => {
    expect(decodeMbMeasurementList(bytes.toString('base64')).equals(bytes)).toBe(true);
    expect(() => decodeMbMeasurementList('abc')).toThrow(ParseError);
    expect(() => decodeMbMeasurementList('ab\ncd==')).toThrow(ParseError);
  });
});
