import { describe, expect, it } from 'vitest';
import { compareCodePoints, pyFloatRepr, pyInt, pySplit, pyStr, pyTruthy } from '../../../src/machines/python.js';

describe('Python semantics', () => {
  it('truthiness', () => {
    for (const falsy of ['', 0, null, false, undefined, [], {}]) expect(pyTruthy(falsy)).toBe(false);
    for (const truthy of ['0', ' ', 1, -1, true, [0], { a: 1 }, 'False']) expect(pyTruthy(truthy)).toBe(true);
  });

  it('str() of JSON values', () => {
    expect(pyStr(17)).toBe('17');
    expect(pyStr(true)).toBe('True');
    expect(pyStr(false)).toBe('False');
    expect(pyStr('')).toBe('');
    expect(pyStr(null)).toBe('None');
    expect(pyStr(1.5)).toBe('1.5');
    expect(pyStr([1, 'a', null, true])).toBe("[1, 'a', None, True]");
    expect(pyStr({ k: 'v', "it's": 'x\n' })).toBe(`{'k': 'v', "it's": 'x\\n'}`);
  });

  it('float repr', () => {
    const cases: Array<[number, string]> = [
      [0.1, '0.1'], [1.5, '1.5'], [1e16, '1e+16'], [1.5e-5, '1.5e-05'], [0.0001, '0.0001'], [123.25, '123.25'],
      [1700000000.123, '1700000000.123'], [-2.5e-7, '-2.5e-07'], [1.7976931348623157e308, '1.7976931348623157e+308'],
      [1e15 + 0.5, '1000000000000000.5'], [1234567.0, '1234567.0'], [Infinity, 'inf'], [-0, '-0.0'],
    ];
    for (const [n, repr] of cases) expect(pyFloatRepr(n), String(n)).toBe(repr);
  });

  it('int() of option strings', () => {
    expect(pyInt('100')).toBe(100);
    expect(pyInt(' 12 ')).toBe(12);
    expect(pyInt('+5')).toBe(5);
    expect(pyInt('-5')).toBe(-5);
    expect(pyInt('1_000')).toBe(1000);
    for (const bad of ['', 'abc', '1.5', '1__0', '_1', '0x10', '1e3']) expect(pyInt(bad), bad).toBeUndefined();
  });

  it('str.split() with Python whitespace', () => {
    expect(pySplit('  a\tb\x0bc\x1cd\u00a0e\u3000f  ')).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    // U+FEFF is whitespace to JavaScript's \s but not to Python.
    expect(pySplit('a\ufeffb c')).toEqual(['a\ufeffb', 'c']);
    expect(pySplit('')).toEqual([]);
  });

  it('orders strings by code point, not UTF-16 unit', () => {
    const astral = '\u{1F600}';
    const highBmp = '\uFF21';
    expect(compareCodePoints(highBmp, astral)).toBeLessThan(0);
    expect(highBmp < astral).toBe(false); // what plain JavaScript comparison would get wrong
    expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
    expect(compareCodePoints('B', 'a')).toBeLessThan(0);
    expect(compareCodePoints('x', 'x')).toBe(0);
  });
});
