import { describe, expect, it } from 'vitest';
import { KeylimeError, ParseError } from '../../../src/errors.js';
import {
  buildTpmPolicy,
  checkTpmPolicy,
  parsePythonIntLiteral,
  parseTpmPolicy,
  parsePyJson,
  pyJsonDumps,
} from '../../../src/quote/index.js';

const A32 = 'aa'.repeat(32);
const B20 = 'bb'.repeat(20);

// Expected strings below were produced by Python 3's json.dumps over the tenant's readPolicy/process_policy logic.
describe('tpm_policy wire strings (Python json.dumps compatible)', () => {
  it('keeps the key order the user wrote, wraps and lower-cases values, appends the mask', () => {
    const input = `{"22": "FF${'ff'.repeat(31)}", "15": ["${'00'.repeat(32)}", "${'AB'.repeat(20)}"]}`;
    expect(buildTpmPolicy(input).json).toBe(
      '{"22": ["ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"], "15": ["0000000000000000000000000000000000000000000000000000000000000000", "abababababababababababababababababababab"], "mask": "0x408000"}',
    );
  });

  it('empty policy, with IMA, with IMA and measured boot', () => {
    expect(buildTpmPolicy().json).toBe('{"mask": "0x0"}');
    expect(buildTpmPolicy('{}', { runtimePolicy: true }).json).toBe('{"mask": "0x400"}');
    expect(buildTpmPolicy('', { runtimePolicy: true, measuredBoot: true }).json).toBe('{"mask": "0xffff"}');
    expect(buildTpmPolicy(`{"23": "${A32}"}`, { measuredBoot: true }).json).toBe(
      `{"23": ["${A32}"], "mask": "0x80fbff"}`,
    );
  });

  it('accepts PCR 24 and leading zeros as Python does, keeping the keys as written', () => {
    const p = buildTpmPolicy(`{"24": "${A32}", "07": "${B20}", "7": "${'cc'.repeat(20)}"}`);
    expect(p.json).toBe(`{"24": ["${A32}"], "07": ["${B20}"], "7": ["${'cc'.repeat(20)}"], "mask": "0x1000080"}`);
    expect(p.maskPcrs).toEqual([7, 24]);
    expect(p.pcrs.get(7)).toEqual(['cc'.repeat(20)]);
  });

  it('an object input works too (JavaScript orders its integer keys)', () => {
    const p = buildTpmPolicy({ 22: A32, 15: [B20] });
    expect(p.json).toBe(`{"15": ["${B20}"], "22": ["${A32}"], "mask": "0x408000"}`);
    expect(p.mask).toBe('0x408000');
  });

  it.each([
    ['{"16": "' + A32 + '"}', /PCR 16/],
    ['{"10": "' + A32 + '"}', /PCR 10/],
    ['{"25": "' + A32 + '"}', /invalid PCR number "25"/],
    ['{"-1": "' + A32 + '"}', /invalid PCR number/],
    ['{"1a": "' + A32 + '"}', /invalid PCR number/],
    ['{"mask": "0x1"}', /mask/],
    ['{"1": []}', /non-empty list/],
    ['{"1": 5}', /hex value/],
    ['{"1": "xyz"}', /not a SHA-1/],
    ['{"1": "abc"}', /not a SHA-1/],
    ['{"1": ["' + A32 + '", 7]}', /not a SHA-1/],
    ['[1, 2]', /JSON object/],
    ['"x"', /JSON object/],
  ])('refuses %s', (input, message) => {
    expect(() => buildTpmPolicy(input)).toThrow(KeylimeError);
    expect(() => buildTpmPolicy(input)).toThrow(message);
  });

  it('refuses measured-boot PCRs in the tpm_policy when a measured-boot policy is attached', () => {
    expect(() => buildTpmPolicy(`{"4": "${A32}"}`, { measuredBoot: true })).toThrow(/PCRs 4 are covered by the measured boot policy/);
    expect(() => buildTpmPolicy(`{"4": "${A32}"}`, { runtimePolicy: true })).not.toThrow();
  });

  it('bad JSON text is a ParseError', () => {
    expect(() => buildTpmPolicy('{"1": ')).toThrow(ParseError);
    expect(() => buildTpmPolicy("{'1': 'x'}")).toThrow(ParseError);
  });
});

describe('parsing stored tpm_policy strings', () => {
  it('reads what the tenant sends, keeping the text verbatim', () => {
    const wire = `{"15": ["${A32}"], "22": ["${B20}", "${A32}"], "mask": "0x408000"}`;
    const p = parseTpmPolicy(wire);
    expect(p.json).toBe(wire);
    expect(p.mask).toBe('0x408000');
    expect(p.maskPcrs).toEqual([15, 22]);
    expect([...p.pcrs.entries()]).toEqual([[15, [A32]], [22, [B20, A32]]]);
  });

  it('round-trips a built policy', () => {
    const built = buildTpmPolicy(`{"22": "${A32}", "3": ["${B20}"]}`, { runtimePolicy: true });
    const parsed = parseTpmPolicy(built.json);
    expect(parsed.mask).toBe(built.mask);
    expect(parsed.maskPcrs).toEqual([3, 10, 22]);
    expect([...parsed.pcrs]).toEqual([...built.pcrs]);
  });

  it('reads the mask as a Python int literal', () => {
    expect(parsePythonIntLiteral('0x408000')).toBe(0x408000n);
    expect(parsePythonIntLiteral('0X_40_8000')).toBe(0x408000n);
    expect(parsePythonIntLiteral('4096')).toBe(4096n);
    expect(parsePythonIntLiteral('0o17')).toBe(15n);
    expect(parsePythonIntLiteral('0b101')).toBe(5n);
    expect(parsePythonIntLiteral('0')).toBe(0n);
    for (const bad of ['', '0x', '08', '1__0', '_1', '1_', ' 1', '-1', '0xg', '1.0']) expect(parsePythonIntLiteral(bad)).toBeUndefined();
    expect(parseTpmPolicy('{"mask": "0x400"}').maskPcrs).toEqual([10]);
  });

  it.each([
    ['{"mask": 1024}', /mask must be a string/],
    ['{"mask": "zz"}', /not an integer literal/],
    ['{"mask": "0x10000000000000000"}', /beyond 63/],
    ['{"x": ["a"]}', /not a PCR number/],
    ['{"1": [1]}', /list of strings/],
    ['[]', /JSON object/],
    ['{', /invalid JSON/],
  ])('refuses %s', (wire, message) => {
    expect(() => parseTpmPolicy(wire)).toThrow(ParseError);
    expect(() => parseTpmPolicy(wire)).toThrow(message);
  });

  it('a bare string value is a one-element list', () => {
    expect(parseTpmPolicy(`{"1": "${A32}", "mask": "0x2"}`).pcrs.get(1)).toEqual([A32]);
  });
});

describe('checkTpmPolicy', () => {
  const policy = buildTpmPolicy(`{"0": ["${A32}", "${'cc'.repeat(32)}"], "7": "${A32}", "23": "${A32}"}`);

  it('passes matching values, reports mismatches ascending, then missing PCRs', () => {
    expect(checkTpmPolicy({ 0: 'cc'.repeat(32), 7: A32, 23: A32, 5: 'ee'.repeat(32) }, policy)).toEqual([]);
    const events = checkTpmPolicy({ 0: 'dd'.repeat(32), 7: 'ee'.repeat(32), 16: A32 }, policy);
    expect(events.map((e) => e.eventId)).toEqual(['pcr_validation.invalid_pcr_0', 'pcr_validation.invalid_pcr_7', 'pcr_validation.missing_pcrs']);
    expect(events[0]!.context).toEqual({ context: 'PCR value is not in allowlist', got: 'dd'.repeat(32), expected: [A32, 'cc'.repeat(32)] });
    expect(events[2]!.context).toEqual({ context: 'PCRs are missing in quote', data: [23] });
    expect(events.every((e) => e.recoverable)).toBe(true);
  });

  it('leaves PCR 10 and excluded PCRs out of the comparison but counts them as present', () => {
    const wire = parseTpmPolicy(`{"10": ["${A32}"], "0": ["${A32}"], "mask": "0x401"}`);
    expect(checkTpmPolicy({ 10: 'ff'.repeat(32), 0: 'ff'.repeat(32) }, wire, { exclude: [0] })).toEqual([]);
    expect(checkTpmPolicy({ 0: A32 }, wire).map((e) => [e.eventId, e.context.data])).toEqual([['pcr_validation.missing_pcrs', [10]]]);
  });
});

describe('Python-compatible JSON', () => {
  it('dumps like json.dumps (separators, ensure_ascii, escapes)', () => {
    expect(pyJsonDumps({ message: 'caf\u00e9 \u{1F600} "q" \\ \n\t\u0001 /' })).toBe(
      '{"message": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\n\\t\\u0001 /"}',
    );
    expect(pyJsonDumps({ context: 'PCRs are missing in quote', data: [4, 15] })).toBe('{"context": "PCRs are missing in quote", "data": [4, 15]}');
    expect(pyJsonDumps([1e-7, 0.5, 1e21, null, true, false, []])).toBe('[1e-07, 0.5, 1e+21, null, true, false, []]');
    expect(pyJsonDumps(new Map<string, unknown>([['b', 1], ['a', new Map()]]))).toBe('{"b": 1, "a": {}}');
  });

  it('parses keeping key order; a repeated key keeps its first place with the last value', () => {
    const v = parsePyJson('{"7": 1, "mask": 2, "15": [true, null, "x\\u00e9\\n"], "7": 3}') as Map<string, unknown>;
    expect([...v.keys()]).toEqual(['7', 'mask', '15']);
    expect(v.get('7')).toBe(3);
    expect(v.get('15')).toEqual([true, null, 'x\u00e9\n']);
    expect(pyJsonDumps(v)).toBe('{"7": 3, "mask": 2, "15": [true, null, "x\\u00e9\\n"]}');
  });

  it.each(['', '{', '{"a" 1}', '{"a":1,}', '[1,]', '01', '"\u0001"', '"\\x"', 'nul', '{} x', '['.repeat(100) + ']'.repeat(100)])(
    'rejects %j with a ParseError',
    (text) => {
      expect(() => parsePyJson(text)).toThrow(ParseError);
    },
  );
});
