import { ParseError } from '../errors.js';

/**
 * JSON as Python's `json` module sees it. JavaScript objects reorder integer-like keys
 * ("15" before "mask", "7" before "15"), Python dicts keep insertion order, and Keylime
 * sends `json.dumps()` output on the wire; so objects here are Maps, which keep the
 * order of first insertion and let a repeated key overwrite in place, as a dict does.
 */
export type PyJson = null | boolean | number | string | PyJson[] | Map<string, PyJson>;

const MAX_DEPTH = 64;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  fail(msg: string): never {
    throw new ParseError(`invalid JSON: ${msg} at character ${this.i}`);
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }

  parseDocument(): PyJson {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('extra data after the value');
    return v;
  }

  value(depth: number): PyJson {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  }

  object(depth: number): Map<string, PyJson> {
    const out = new Map<string, PyJson>();
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a string key');
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected ":"');
      this.i++;
      this.ws();
      out.set(key, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') {
        this.i--;
        this.fail('expected "," or "}"');
      }
    }
  }

  array(depth: number): PyJson[] {
    const out: PyJson[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') {
        this.i--;
        this.fail('expected "," or "]"');
      }
    }
  }

  number(): number {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) this.fail('bad number');
    this.i += m[0].length;
    return Number(m[0]);
  }

  string(): string {
    const s = this.s;
    this.i++;
    let out = '';
    let start = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(start, this.i);
      const e = s[this.i + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
        this.i += 2;
      } else if (e === 'u') {
        const h = s.slice(this.i + 2, this.i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('bad \\u escape');
        out += String.fromCharCode(parseInt(h, 16));
        this.i += 6;
      } else {
        this.fail('bad escape');
      }
      start = this.i;
    }
  }
}

/** Parses JSON text keeping object key order (objects become Maps). */
export function parsePyJson(text: string): PyJson {
  return new Parser(text).parseDocument();
}

function escapeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    // ensure_ascii=True: everything outside printable ASCII as \uXXXX (UTF-16 units, as Python).
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n);
  // Python float repr: exponent with at least two digits ("1e-07", "1e+16").
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/**
 * `json.dumps(value)` with Python's defaults: separators ", " and ": ", ensure_ascii,
 * keys in insertion order. Plain objects are accepted too (in JavaScript's key order).
 */
export function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return escapeString(value);
  if (Array.isArray(value)) return '[' + value.map(pyJsonDumps).join(', ') + ']';
  if (value instanceof Map) {
    return '{' + [...value.entries()].map(([k, v]) => `${escapeString(String(k))}: ${pyJsonDumps(v)}`).join(', ') + '}';
  }
  if (typeof value === 'object') {
    return '{' + Object.entries(value as Record<string, unknown>).map(([k, v]) => `${escapeString(k)}: ${pyJsonDumps(v)}`).join(', ') + '}';
  }
  throw new TypeError(`cannot serialise a ${typeof value} as JSON`);
}
