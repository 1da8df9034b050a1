import { describe, expect, it } from 'vitest';
import { collectParams, parseUrlEncoded, percentDecode, requireParam } from '../../../src/machines/index.js';

describe('parameter intake (§1.2)', () => {
  it('query before form, first value wins, JSON on top, path on top of all', () => {
    const params = collectParams({
      query: 'a=q1&a=q2&b=q',
      form: 'a=f&c=f&d=f',
      json: { c: 'j', d: 0, e: true },
      path: { d: 'p' },
    });
    expect(params.get('a')).toBe('q1');
    expect(params.get('b')).toBe('q');
    expect(params.get('c')).toBe('j');
    expect(params.get('d')).toBe('p');
    expect(params.get('e')).toBe(true);
  });

  it('JSON keeps types; form values are strings', () => {
    expect(collectParams({ json: { machineid: 0 } }).get('machineid')).toBe(0);
    expect(collectParams({ form: 'machineid=0' }).get('machineid')).toBe('0');
  });

  it('decodes form and query twice, unless the client is a privacyIDEA plugin', () => {
    expect(collectParams({ query: 'x=%2541' }).get('x')).toBe('A');
    expect(collectParams({ query: 'x=%2541', userAgent: 'privacyidea-cp/2.0 Windows/HOST' }).get('x')).toBe('%41');
    expect(collectParams({ query: 'x=%2541', userAgent: 'SimpleSAMLphp' }).get('x')).toBe('%41');
    expect(collectParams({ path: { serial: 'S%41' } }).get('serial')).toBe('SA');
    expect(collectParams({ json: { s: '%41' } }).get('s')).toBe('%41');
  });

  it('decodes like Werkzeug and urllib', () => {
    expect(parseUrlEncoded('a+b=c+d&e&=f&&g=%zz')).toEqual([
      ['a b', 'c d'],
      ['e', ''],
      ['', 'f'],
      ['g', '%zz'],
    ]);
    expect(percentDecode('%C3%A9t%C3', false)).toBe('ét\ufffd');
    expect(percentDecode('a+b', false)).toBe('a+b');
  });

  it('keeps __proto__ an ordinary key', () => {
    const params = collectParams({ query: '__proto__=x', json: { constructor: 'y' } });
    expect(params.get('__proto__')).toBe('x');
    expect(params.get('constructor')).toBe('y');
  });

  it('required means present, not null, not ""', () => {
    const params = collectParams({ json: { a: '', b: null, c: 0 } });
    for (const key of ['a', 'b', 'z']) {
      expect(() => requireParam(params, key)).toThrow(expect.objectContaining({ message: `ERR905: Missing parameter: ${key}` }));
    }
    expect(requireParam(params, 'c')).toBe(0);
  });

  it('refuses a JSON body that is not an object with a KeylimeError', () => {
    expect(() => collectParams({ json: [1, 2] })).toThrow(expect.objectContaining({ name: 'KeylimeError', status: 400 }));
    expect(() => collectParams({ json: 'x' })).toThrow(expect.objectContaining({ name: 'KeylimeError' }));
  });
});
