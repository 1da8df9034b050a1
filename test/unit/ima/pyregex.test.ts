import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileExcludes, compilePythonMatch, PythonRegexError, translatePythonRegex } from '../../../src/ima/pyregex.js';

/** Expected results were produced by CPython 3.11 `re` (fixtures/python-re-vectors.json). */
interface Vectors {
  match: [string, [string, boolean][]][];
  errors: [string, string][];
  unsupported: [string, string][];
  combined: [string[], [string, boolean][]];
}
const vectors = JSON.parse(readFileSync(new URL('./fixtures/python-re-vectors.json', import.meta.url), 'utf8')) as Vectors;

describe('Python regex translation (re.match semantics)', () => {
  for (const [pattern, subjects] of vectors.match) {
    it(`matches like Python: ${JSON.stringify(pattern)}`, () => {
      const re = compilePythonMatch(pattern);
      for (const [subject, expected] of subjects) {
        expect({ subject, matched: re.test(subject) }).toEqual({ subject, matched: expected });
      }
    });
  }

  it('rejects every pattern Python rejects, as kind "invalid"', () => {
    for (const [pattern] of vectors.errors) {
      let err: unknown;
      try {
        translatePythonRegex(pattern);
      } catch (e) {
        err = e;
      }
      expect(err, pattern).toBeInstanceOf(PythonRegexError);
      expect((err as PythonRegexError).kind, pattern).toBe('invalid');
    }
  });

  it('reports Python-valid patterns that JS cannot express as kind "unsupported"', () => {
    for (const [pattern, python] of vectors.unsupported) {
      expect(python).toBe('ok-in-python');
      let err: unknown;
      try {
        translatePythonRegex(pattern);
      } catch (e) {
        err = e;
      }
      expect(err, pattern).toBeInstanceOf(PythonRegexError);
      expect((err as PythonRegexError).kind, pattern).toBe('unsupported');
      expect((err as PythonRegexError).code).toBe('invalid_input');
    }
  });

  it('joins excludes as one pattern (e1)|(e2)|... like Keylime', () => {
    const [excludes, subjects] = vectors.combined;
    const re = compileExcludes(excludes)!;
    for (const [subject, expected] of subjects) expect(re.test(subject), subject).toBe(expected);
    expect(compileExcludes([])).toBeNull();
  });

  it('an error in one exclude poisons the whole joined pattern, as in Python', () => {
    expect(() => compileExcludes(['/ok', '(unbalanced'])).toThrow(PythonRegexError);
    // group numbering spans entries: \1 in the second exclude is the first exclude's group
    expect(() => compileExcludes(['a', '\\2'])).toThrow(/open group/);
    // In Python a backreference to a group that did not take part fails; JS would match
    // it as empty, so such references are refused rather than mistranslated.
    expect(() => compileExcludes(['(x)', 'a\\1'])).toThrow(/may not have participated/);
    expect(() => compilePythonMatch('(a)?\\1')).toThrow(/may not have participated/);
    expect(() => compilePythonMatch('(?!(a))\\1')).toThrow(/may not have participated/);
    expect(compilePythonMatch('(a)(?:b\\1)?').test('aba')).toBe(true);
  });

  it('global flags are only allowed at the start of a single pattern', () => {
    expect(compilePythonMatch('(?i)abc').test('ABC')).toBe(true);
    expect(() => compileExcludes(['(?i)abc'])).toThrow(/global flags not at the start/);
  });

  it('never throws anything but PythonRegexError on random patterns', () => {
    const alphabet = '()[]{}?*+|\\^$.-:=!<>Pidx0123aA,#\n ';
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      let p = '';
      const len = rand(12);
      for (let k = 0; k < len; k++) p += alphabet[rand(alphabet.length)];
      try {
        const re = compilePythonMatch(p);
        re.test('/usr/bin/x');
      } catch (e) {
        expect(e, p).toBeInstanceOf(PythonRegexError);
      }
    }
  });
});
