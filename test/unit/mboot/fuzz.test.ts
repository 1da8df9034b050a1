/**
 * Mutation fuzzing: whatever the bytes, parsing ends in a parsed log or a ParseError
 * naming an offset inside the input, and everything downstream of a parsed log (replay,
 * JSON and text rendering, policy evaluation, refstate generation, the verifier check)
 * returns or throws a KeylimeError. Seeded, so a failure reproduces.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KeylimeError, ParseError } from '../../../src/errors.js';
import { checkMeasuredBoot } from '../../../src/mboot/measuredBoot.js';
import { parseEventLog } from '../../../src/mboot/parser.js';
import { createMbRefstate } from '../../../src/mboot/policy/createRefstate.js';
import { evaluateExamplePolicy } from '../../../src/mboot/policy/example.js';
import { eventLogToJson } from '../../../src/mboot/render.js';
import { replayEventLog } from '../../../src/mboot/replay.js';
import { formatEventLog } from '../../../src/mboot/text.js';
import type { EventLog } from '../../../src/mboot/types.js';
import { linuxBoot, u32 } from './builder.js';
import { LAPTOP_EVENT_LOG } from '../../support/fixtures.js';
import { seededRandom } from '../../support/prng.js';

const fixture = readFileSync(LAPTOP_EVENT_LOG);
const synthetic = linuxBoot({ startupLocality: 3, firmwareApp: true }).build();
const fixtureLog = parseEventLog(fixture);
const refstate = createMbRefstate(fixtureLog, { withoutSecureboot: true, relaxed: true }).refstate;


const stats = { inputs: 0, parsed: 0, rejected: 0 };

function downstream(log: EventLog, bytes: Buffer): void {
  const replay = replayEventLog(log);
  JSON.stringify(eventLogToJson(log, replay));
  formatEventLog(log, replay);
  expect(typeof evaluateExamplePolicy(log, refstate, { relaxed: true })).toBe('string');
  expect(typeof evaluateExamplePolicy(log, refstate)).toBe('string');
  try {
    createMbRefstate(log, { withoutSecureboot: true });
  } catch (e) {
    expect(e).toBeInstanceOf(KeylimeError);
  }
  const quoted = { 0: '00', 4: 'ab', 7: '00'.repeat(32) };
  const r = checkMeasuredBoot({ eventLog: bytes, quotedPcrs: quoted, hashAlg: 'sha256', mbPolicy: refstate, policyName: 'example' });
  expect(Array.isArray(r.failures)).toBe(true);
}

/** Parses `bytes`; a rejection must be a ParseError with an offset inside the input. */
function attempt(bytes: Buffer, deep: boolean): void {
  stats.inputs++;
  let log: EventLog;
  try {
    log = parseEventLog(bytes);
  } catch (e) {
    if (!(e instanceof ParseError)) throw new Error(`non-ParseError for input of ${bytes.length} bytes: ${String((e as Error)?.stack ?? e)}`);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(bytes.length);
    stats.rejected++;
    return;
  }
  stats.parsed++;
  if (deep) downstream(log, bytes);
}

describe('mutated event logs never throw anything but ParseError / KeylimeError', () => {
  it('empty, tiny and header-only inputs', () => {
    for (let n = 0; n < 32; n++) expect(() => parseEventLog(Buffer.alloc(n))).toThrow(ParseError);
    // 32 zero bytes are one well-formed legacy SHA-1 record (PCR 0, EV_PREBOOT_CERT, no data).
    expect(parseEventLog(Buffer.alloc(32))).toMatchObject({ format: 'sha1', events: [{ typeName: 'EV_PREBOOT_CERT' }] });
    expect(() => parseEventLog(Buffer.alloc(33))).toThrow(ParseError);
    expect(parseEventLog(fixture.subarray(0, fixtureLog.events[1]!.offset)).events).toHaveLength(1);
  });

  it('every truncation of the header region and every truncation at and around a record boundary', () => {
    const headerRegion = fixtureLog.events[13]!.offset; // header, StartupLocality, firmware blobs, SecureBoot, PK
    for (let n = 0; n <= headerRegion; n++) attempt(fixture.subarray(0, n), n % 16 === 0);
    for (const e of fixtureLog.events) {
      for (const d of [-3, -1, 0, 1, 2, 5, 13]) {
        const n = e.offset + d;
        if (n >= 0 && n <= fixture.length) attempt(fixture.subarray(0, n), d === 0);
      }
    }
    for (let n = 0; n <= synthetic.length; n++) attempt(synthetic.subarray(0, n), n % 8 === 0);
  });

  it('single and multiple bit flips and byte overwrites', () => {
    const next = seededRandom(0x5eed);
    for (const [base, count] of [[fixture, 2500], [synthetic, 3500]] as const) {
      for (let i = 0; i < count; i++) {
        const m = Buffer.from(base);
        const flips = 1 + Math.floor(next() * (i % 4 === 0 ? 8 : 1));
        for (let f = 0; f < flips; f++) {
          const at = Math.floor(next() * m.length);
          if (i % 3 === 0) m[at] = Math.floor(next() * 256);
          else m[at] = m[at]! ^ (1 << Math.floor(next() * 8));
        }
        attempt(m, i % (base === synthetic ? 4 : 25) === 0);
      }
    }
  });

  it('corrupted length and count fields in every record and in structured event data', () => {
    const next = seededRandom(42);
    const evil = [0, 1, 2, 3, 4, 15, 16, 17, 0x7f, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
    for (const base of [fixture, synthetic]) {
      const log = parseEventLog(base);
      for (const e of log.events.slice(1)) {
        const countAt = e.offset + 8;
        const sizeAt = e.dataOffset - 4;
        for (const v of [...evil, e.data.length - 1, e.data.length + 1]) {
          for (const at of [countAt, sizeAt]) {
            const m = Buffer.from(base);
            m.writeUInt32LE(v >>> 0, at);
            attempt(m, false);
          }
        }
        // Inside the event data: overwrite aligned u32/u64 words (UEFI name/data lengths,
        // signature list sizes, device path lengths, GPT counts...) with hostile values.
        for (let k = 0; k < 12 && e.data.length >= 4; k++) {
          const m = Buffer.from(base);
          const at = e.dataOffset + 4 * Math.floor(next() * Math.floor(e.data.length / 4));
          const v = evil[Math.floor(next() * evil.length)]!;
          m.writeUInt32LE(v >>> 0, at);
          if (k % 2 === 0 && at + 8 <= e.dataOffset + e.data.length) m.writeUInt32LE(0xffffffff, at + 4);
          attempt(m, k % 4 === 0);
        }
      }
      // The Spec ID event's counts and sizes.
      for (let at = 32; at < 32 + base.readUInt32LE(28); at++) {
        for (const v of [0, 0xff]) {
          const m = Buffer.from(base);
          m[at] = v;
          attempt(m, at % 4 === 0);
        }
      }
    }
  });

  it('random garbage, and garbage after a valid header', () => {
    const next = seededRandom(7);
    const header = fixture.subarray(0, fixtureLog.events[1]!.offset);
    for (let i = 0; i < 800; i++) {
      const junk = Buffer.alloc(Math.floor(next() * 600));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(next() * 256);
      attempt(junk, false);
      attempt(Buffer.concat([header, junk]), true);
    }
    expect(stats.inputs).toBeGreaterThan(10_000);
    // Both outcomes were exercised in quantity.
    expect(stats.parsed).toBeGreaterThan(1000);
    expect(stats.rejected).toBeGreaterThan(1000);
  });
});

describe('oversized logs', () => {
  it('a 4 GiB EventSize is rejected at once, without allocating', () => {
    const m = Buffer.from(synthetic);
    const e = parseEventLog(synthetic).events[1]!;
    m.writeUInt32LE(0xffffffff, e.dataOffset - 4);
    const before = process.memoryUsage().arrayBuffers;
    const t = performance.now();
    expect(() => parseEventLog(m)).toThrow(/EventSize 4294967295 exceeds/);
    expect(performance.now() - t).toBeLessThan(50);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('a 20 MB log of many real events parses and replays', () => {
    const records = fixture.subarray(fixtureLog.events[1]!.offset);
    const big = Buffer.concat([fixture.subarray(0, fixtureLog.events[1]!.offset), ...Array.from({ length: 420 }, () => records)]);
    expect(big.length).toBeGreaterThan(20_000_000);
    const log = parseEventLog(big);
    expect(log.events).toHaveLength(1 + 420 * 120);
    expect(replayEventLog(log).banks.get('sha256')!.pcrs.size).toBe(11);
  });

  it('a record claiming 2^32-1 digests or a 64 KiB name length is a ParseError', () => {
    const m = Buffer.from(synthetic);
    const e = parseEventLog(synthetic).events[1]!;
    m.writeUInt32LE(0xffffffff, e.offset + 8);
    expect(() => parseEventLog(m)).toThrow(/DigestCount 4294967295 exceeds/);
    const tail = Buffer.concat([synthetic, u32(7), u32(0x80000001), u32(0)]);
    expect(() => parseEventLog(tail)).toThrow(ParseError);
  });
});
