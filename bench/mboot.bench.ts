import { readFileSync } from 'node:fs';
import { medianMs, type Figure } from './harness.js';
import { checkMeasuredBoot, createMbRefstate, parseEventLog, replayEventLog } from '../src/mboot/index.js';
import { LAPTOP_EVENT_LOG } from '../test/support/fixtures.js';

/** The 49 KB event log of a real laptop (121 events, sha1 + sha256 banks). */
const FIXTURE = LAPTOP_EVENT_LOG;

export const figures: Figure[] = [
  {
    // What the verifier does with one agent's mb_measurement_list: parse, replay, compare
    // PCRs 0-9 and 14 with the quote, evaluate the refstate (a passing one: every check runs).
    name: 'mboot.evaluate.log50k',
    unit: 'ms',
    async run() {
      const log = readFileSync(FIXTURE);
      const parsed = parseEventLog(log);
      const refstate = createMbRefstate(parsed, { withoutSecureboot: true, relaxed: true }).refstate;
      const quoted: Record<number, string> = {};
      for (const [pcr, v] of replayEventLog(parsed).banks.get('sha256')!.pcrs) quoted[pcr] = v.toString('hex');
      const once = () => {
        const r = checkMeasuredBoot({ eventLog: log, quotedPcrs: quoted, hashAlg: 'sha256', mbPolicy: refstate, policyName: 'example-relaxed' });
        if (r.failures.length || !r.evaluated) throw new Error(`benchmark input must pass: ${JSON.stringify(r.failures)}`);
      };
      for (let i = 0; i < 200; i++) once();
      return medianMs(async () => once(), 301);
    },
  },
];
