import { describe, expect, it } from 'vitest';
import { parseImaEntry, parseMask, parseNonce, parsePartial } from '../../../src/servers/agent/quotes.js';

describe('quote query parameters', () => {
  it('nonce: alphanumeric, at most 64 characters, message per endpoint', () => {
    expect(parseNonce('aB3' + 'x'.repeat(61), 'identity')).toHaveLength(64);
    expect(parseNonce(['first', 'second'], 'integrity')).toBe('first');
    expect(() => parseNonce('a b', 'identity')).toThrow('Parameters should be strictly alphanumeric: a b');
    expect(() => parseNonce('é', 'integrity')).toThrow('nonce should be strictly alphanumeric: é');
    expect(() => parseNonce('x'.repeat(65), 'identity')).toThrow('Nonce is too long (max size: 64): 65 characters');
    expect(() => parseNonce(undefined, 'identity')).toThrow("Missing query parameter 'nonce'");
    expect(() => parseNonce('', 'identity')).toThrow("Missing query parameter 'nonce'");
  });

  it('mask: hex with or without 0x, bit i = PCR i, 0..23 only', () => {
    expect(parseMask('0x408400')).toEqual([10, 15, 22]);
    expect(parseMask('408400')).toEqual([10, 15, 22]);
    expect(parseMask('0X1')).toEqual([0]);
    expect(parseMask('0x0')).toEqual([]);
    expect(parseMask('0x00000000FFFFFF')).toHaveLength(24);
    expect(() => parseMask('0x-1')).toThrow('mask should be strictly alphanumeric: 0x-1');
    expect(() => parseMask('0xg')).toThrow('mask should be a hex encoded 32-bit integer: 0xg');
    expect(() => parseMask('0x')).toThrow('mask should be a hex encoded 32-bit integer: 0x');
    expect(() => parseMask('123456789')).toThrow('mask should be a hex encoded 32-bit integer: 123456789');
    expect(() => parseMask('0x1000000')).toThrow(/above 23/);
    expect(() => parseMask(undefined)).toThrow("Missing query parameter 'mask'");
  });

  it('partial: exactly 0 or 1', () => {
    expect(parsePartial('1')).toBe(true);
    expect(parsePartial('0')).toBe(false);
    for (const bad of [undefined, '', '2', 'true', '01']) expect(() => parsePartial(bad)).toThrow("uri must contain key 'partial' and value '0' or '1'");
  });

  it('ima_ml_entry: decimal, anything else is 0', () => {
    expect(parseImaEntry('17')).toBe(17);
    for (const other of [undefined, '', '-1', '1e3', 'x', '0x10']) expect(parseImaEntry(other)).toBe(0);
  });
});
