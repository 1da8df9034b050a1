/**
 * Parameter intake as privacyIDEA does it (spec §1.2): query then form (first value wins),
 * JSON body keys on top, path variables on top of that. Form, query and path values are
 * percent-decoded a second time unless the client is one of privacyIDEA's own plugins.
 */
import { parameterError, missingParameter } from './errors.js';
import { pyStr, pyTruthy } from './python.js';
import type { ParamValue, Params } from './types.js';

export interface RequestParts {
  /** Raw query string, without the leading `?`, or already-split pairs. */
  query?: string | Iterable<[string, string]>;
  /** Raw application/x-www-form-urlencoded body, or already-split pairs. */
  form?: string | Iterable<[string, string]>;
  /** Parsed JSON body; must be an object when present. */
  json?: unknown;
  /** Path variables, decoded once by the router. */
  path?: Record<string, string>;
  userAgent?: string;
}

/** Plugins whose values are not decoded twice (matched case-insensitively on the UA name). */
const SINGLE_DECODE_CLIENTS = new Set(['privacyidea-cp', 'privacyidea-ldap-proxy', 'simplesamlphp']);

export function collectParams(parts: RequestParts): Map<string, ParamValue> {
  const decodeTwice = !SINGLE_DECODE_CLIENTS.has(userAgentName(parts.userAgent));
  const params = new Map<string, ParamValue>();
  for (const source of [parts.query, parts.form]) {
    if (source === undefined) continue;
    const pairs = typeof source === 'string' ? parseUrlEncoded(source) : source;
    for (const [key, value] of pairs) {
      if (!params.has(key)) params.set(key, decodeTwice ? percentDecode(value, false) : value);
    }
  }
  if (parts.json !== undefined && parts.json !== null) {
    if (typeof parts.json !== 'object' || Array.isArray(parts.json)) {
      throw parameterError('The JSON body must be an object.');
    }
    for (const [key, value] of Object.entries(parts.json as Record<string, unknown>)) {
      params.set(key, toParamValue(value));
    }
  }
  for (const [key, value] of Object.entries(parts.path ?? {})) {
    params.set(key, decodeTwice ? percentDecode(value, false) : value);
  }
  return params;
}

/** Builds Params from a plain object (tests, CLI, JSON-only callers). */
export function paramsOf(values: Record<string, unknown>): Map<string, ParamValue> {
  const params = new Map<string, ParamValue>();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) params.set(key, toParamValue(value));
  }
  return params;
}

function toParamValue(value: unknown): ParamValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (Array.isArray(value)) return value.map(toParamValue);
  if (typeof value === 'object') {
    const out: Record<string, ParamValue> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      Object.defineProperty(out, k, { value: toParamValue(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return String(value);
}

function userAgentName(userAgent: string | undefined): string {
  if (!userAgent) return '';
  return (userAgent.trim().split(/[/\s]/)[0] ?? '').toLowerCase();
}

/** Splits `a=1&b=2` the way Werkzeug does: `+` is a space, a key without `=` has value "". */
export function parseUrlEncoded(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const piece of text.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const rawKey = eq < 0 ? piece : piece.slice(0, eq);
    const rawValue = eq < 0 ? '' : piece.slice(eq + 1);
    pairs.push([percentDecode(rawKey, true), percentDecode(rawValue, true)]);
  }
  return pairs;
}

/**
 * Python's `unquote` (and Werkzeug's form decoding when `plusIsSpace`): each run of %XX
 * escapes is decoded as UTF-8 with U+FFFD for bad bytes; a `%` not followed by two hex
 * digits stays literal.
 */
export function percentDecode(text: string, plusIsSpace: boolean): string {
  const source = plusIsSpace ? text.replace(/\+/g, ' ') : text;
  if (!source.includes('%')) return source;
  return source.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  });
}

/** getParam(optional=False): present, not null and not "". */
export function requireParam(params: Params, key: string): ParamValue {
  const value = params.get(key);
  if (value === undefined || value === null || value === '') throw missingParameter(key);
  return value;
}

/** A parameter as a string for use as a name, or undefined when it is absent or falsy. */
export function truthyString(params: Params, key: string): string | undefined {
  const value = params.get(key);
  return pyTruthy(value) ? pyStr(value) : undefined;
}

/** Every parameter except the named ones, in request order. */
export function paramsExcept(params: Params, excluded: readonly string[]): Array<[string, ParamValue]> {
  return [...params].filter(([key]) => !excluded.includes(key));
}
