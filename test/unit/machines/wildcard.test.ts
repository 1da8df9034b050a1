import { describe, expect, it } from 'vitest';
import { compileWildcard } from '../../../src/machines/wildcard.js';

const matches = (filter: string, subject: string) => compileWildcard(filter)(subject);

describe("privacyIDEA '*' filters", () => {
  it('anchor at the start only, are case-insensitive, and do not escape regex characters', () => {
    expect(matches('SSH*', 'sshkey1')).toBe(true);
    expect(matches('*KEY1', 'SSHKEY10')).toBe(true); // not anchored at the end
    expect(matches('KEY*', 'SSHKEY1')).toBe(false); // anchored at the start
    expect(matches('S.1*', 'SX1abc')).toBe(true); // '.' is any character
    expect(matches('S.1*', 'S1')).toBe(false);
    expect(matches('*', '')).toBe(true);
    expect(matches('ab*', 'a')).toBe(false);
    expect(matches('*ünï*', 'XÜNÏY')).toBe(true);
  });

  it('does not let .* cross a newline, as in Python', () => {
    expect(matches('a*b', 'a\nb')).toBe(false);
    expect(matches('a*', 'a\nb')).toBe(true);
  });

  it('uses real regex syntax when present', () => {
    expect(matches('(foo|bar)*', 'BARx')).toBe(true);
    expect(matches('[0-9]*', '5x')).toBe(true);
    expect(matches('[0-9]*', 'x5')).toBe(false);
    expect(matches('^ab*', 'abc')).toBe(true);
  });

  it('fails a malformed pattern with a 500 KeylimeError, an exponential one with a 400', () => {
    expect(() => compileWildcard('(ab*')).toThrow(expect.objectContaining({ name: 'KeylimeError', status: 500 }));
    expect(() => compileWildcard('(a+)+b*')).toThrow(expect.objectContaining({ name: 'KeylimeError', status: 400 }));
    expect(() => compileWildcard('(a|a)+*')).toThrow(expect.objectContaining({ name: 'KeylimeError', status: 400 }));
  });

  it('stays linear on many wildcards', () => {
    const subject = 'a'.repeat(2000);
    const start = performance.now();
    expect(matches('*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', subject)).toBe(false);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
