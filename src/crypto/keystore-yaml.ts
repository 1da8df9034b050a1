import { ParseError } from '../errors.js';

/**
 * The YAML that Keylime's CA keystore (`private.yml`) is made of, as PyYAML's SafeDumper
 * writes it: one top-level mapping whose values are `!!binary |` blocks (Python bytes),
 * integers, strings, and lists of strings. This reads and writes exactly that subset;
 * anything else is a ParseError, never a guess.
 */
export type YamlValue = string | number | boolean | null | Buffer | YamlValue[];

// --- emitting --------------------------------------------------------------------------

const yaml11Specials = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$/;
const looksNumeric = /^[-+]?(?:\.?[0-9]|\.(?:inf|Inf|INF|nan|NaN|NAN))/;

function plainSafe(s: string): boolean {
  return (
    /^[A-Za-z0-9_./+=-][A-Za-z0-9_./+= -]*$/.test(s) &&
    !/\s$/.test(s) &&
    !/^-(?:\s|$)/.test(s) &&
    !yaml11Specials.test(s) &&
    !looksNumeric.test(s)
  );
}

function scalar(s: string): string {
  return plainSafe(s) ? s : `'${s.replace(/'/g, "''")}'`;
}

/** PyYAML's `!!binary` block: base64 in 76-character lines (base64.encodebytes). */
function binaryBlock(b: Buffer): string {
  const lines = b.toString('base64').match(/.{1,76}/g) ?? [''];
  return ' !!binary |\n' + lines.map((l) => `  ${l}\n`).join('');
}

function emitValue(v: YamlValue): string {
  if (Buffer.isBuffer(v)) return binaryBlock(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return ' []\n';
    return '\n' + v.map((item) => `- ${inlineScalar(item)}\n`).join('');
  }
  return ` ${inlineScalar(v)}\n`;
}

function inlineScalar(v: YamlValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new ParseError(`cannot write non-integer number ${v}`);
    return String(v);
  }
  if (typeof v === 'string') return scalar(v);
  throw new ParseError('nested collections are not part of the keystore format');
}

/** Keys sorted, as PyYAML's default `sort_keys=True`. */
export function emitYamlMapping(map: Map<string, YamlValue>): string {
  return [...map.keys()]
    .sort()
    .map((k) => `${scalar(k)}:${emitValue(map.get(k)!)}`)
    .join('');
}

// --- parsing ---------------------------------------------------------------------------

function fail(line: number, message: string): never {
  throw new ParseError(`YAML line ${line}: ${message}`, undefined, { line });
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r', '0': '\0', ' ': ' ' };

/** A quoted scalar starting at `start`; `end` is the index just past its closing quote. */
function unquote(text: string, start: number, line: number): { value: string; end: number } {
  const quote = text[start];
  const parts: string[] = [];
  let i = start + 1;
  for (;;) {
    if (i >= text.length) fail(line, 'unterminated quoted string');
    const c = text[i]!;
    if (c === quote) {
      if (quote === "'" && text[i + 1] === "'") {
        parts.push("'");
        i += 2;
        continue;
      }
      return { value: parts.join(''), end: i + 1 };
    }
    if (quote === "'" || c !== '\\') {
      parts.push(c);
      i++;
      continue;
    }
    const e = text[i + 1];
    if (e !== undefined && e in ESCAPES) {
      parts.push(ESCAPES[e]!);
      i += 2;
      continue;
    }
    const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const hex = text.slice(i + 2, i + 2 + width);
    if (!width || hex.length !== width || !/^[0-9A-Fa-f]+$/.test(hex)) fail(line, 'bad escape in double-quoted string');
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) fail(line, 'bad escape in double-quoted string');
    parts.push(String.fromCodePoint(cp));
    i += 2 + width;
  }
}

/** Text up to a comment (" #"), without trailing blanks; a plain scan, no backtracking regex. */
function stripComment(t: string): string {
  const hash = t.search(/\s#/);
  return (hash < 0 ? t : t.slice(0, hash)).trimEnd();
}

function parseScalar(text: string, line: number): YamlValue {
  const t = text.trim();
  if (t.startsWith("'") || t.startsWith('"')) {
    const { value, end } = unquote(t, 0, line);
    const rest = t.slice(end).trim();
    if (rest !== '' && !rest.startsWith('#')) fail(line, 'text after a quoted string');
    return value;
  }
  const plain = stripComment(t);
  if (plain === '' || plain === '~' || /^(?:null|Null|NULL)$/.test(plain)) return null;
  if (/^(?:true|True|TRUE)$/.test(plain)) return true;
  if (/^(?:false|False|FALSE)$/.test(plain)) return false;
  if (/^[-+]?(?:0|[1-9][0-9]*)$/.test(plain)) {
    const n = Number(plain);
    if (!Number.isSafeInteger(n)) fail(line, 'integer out of range');
    return n;
  }
  if (/^[[\]{}&*!|>%@`]/.test(plain) || /:(?:\s|$)/.test(plain)) {
    fail(line, `unsupported YAML construct: ${plain.slice(0, 20)}`);
  }
  return plain;
}

function parseFlowList(text: string, line: number): YamlValue[] {
  const inner = stripComment(text.trim());
  if (!inner.startsWith('[') || !inner.endsWith(']')) fail(line, 'unterminated flow sequence');
  const last = inner.length - 1;
  const items: YamlValue[] = [];
  const skipBlanks = (k: number) => {
    while (k < last && (inner[k] === ' ' || inner[k] === '\t')) k++;
    return k;
  };
  let i = skipBlanks(1);
  while (i < last) {
    if (inner[i] === "'" || inner[i] === '"') {
      const q = unquote(inner, i, line);
      if (q.end > last) fail(line, 'unterminated flow sequence');
      items.push(q.value);
      i = skipBlanks(q.end);
    } else {
      let comma = inner.indexOf(',', i);
      if (comma < 0 || comma > last) comma = last;
      items.push(parseScalar(inner.slice(i, comma), line));
      i = comma;
    }
    if (i >= last) break;
    if (inner[i] !== ',') fail(line, 'expected , in flow sequence');
    i = skipBlanks(i + 1);
    if (i >= last) fail(line, 'trailing , in flow sequence');
  }
  return items;
}

const base64Text = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parse a top-level mapping of the keystore subset. Duplicate keys are an error. */
export function parseYamlMapping(text: string): Map<string, YamlValue> {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const map = new Map<string, YamlValue>();
  let i = 0;
  const indentOf = (s: string) => s.length - s.trimStart().length;
  const isBlank = (s: string) => s.trim() === '' || s.trim().startsWith('#');

  while (i < lines.length) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (isBlank(line) || line === '---' || line === '...') {
      i++;
      continue;
    }
    if (indentOf(line) !== 0) fail(lineNo, 'unexpected indentation');
    if (line.includes('\t')) fail(lineNo, 'tabs are not allowed');

    let key: string;
    let rest: string;
    if (line.startsWith("'") || line.startsWith('"')) {
      const q = unquote(line, 0, lineNo);
      if (line[q.end] !== ':') fail(lineNo, 'expected : after key');
      key = q.value;
      rest = line.slice(q.end + 1);
    } else {
      const m = /^([^\s:#'"[\]{},&*!|>%@`-][^:]*?):(?:\s|$)(.*)$/.exec(line);
      if (!m) fail(lineNo, 'expected "key: value"');
      key = m[1]!;
      rest = ' ' + m[2]!;
    }
    if (rest !== '' && !/^\s/.test(rest)) fail(lineNo, 'expected a space after :');
    if (map.has(key)) fail(lineNo, `duplicate key ${JSON.stringify(key)}`);
    rest = rest.trim();
    i++;

    const takeBlock = (): string[] => {
      const block: string[] = [];
      while (i < lines.length && (lines[i]!.trim() === '' || indentOf(lines[i]!) > 0)) {
        block.push(lines[i]!);
        i++;
      }
      while (block.length && block[block.length - 1]!.trim() === '') block.pop();
      return block;
    };

    const binary = /^!!binary(?:\s+(.*))?$/.exec(rest);
    if (binary) {
      const after = (binary[1] ?? '').trim();
      let b64: string;
      if (/^\|[-+]?$/.test(after) || after === '') {
        b64 = takeBlock().map((l) => l.trim()).join('');
      } else {
        const v = parseScalar(after, lineNo);
        if (typeof v !== 'string') fail(lineNo, '!!binary needs base64 text');
        b64 = v.replace(/\s+/g, '');
      }
      if (!base64Text.test(b64) || b64.length % 4 !== 0) fail(lineNo, 'invalid base64 in !!binary');
      map.set(key, Buffer.from(b64, 'base64'));
      continue;
    }
    const literal = /^\|([-+]?)$/.exec(rest);
    if (literal) {
      const block = takeBlock();
      const indent = block.reduce((m, l) => (l.trim() === '' ? m : Math.min(m, indentOf(l))), Infinity);
      let body = block.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join('\n');
      if (literal[1] !== '-' && block.length) body += '\n';
      map.set(key, body);
      continue;
    }
    if (rest.startsWith('[')) {
      map.set(key, parseFlowList(rest, lineNo));
      continue;
    }
    if (rest === '' || rest.startsWith('#')) {
      // A block sequence (PyYAML writes its "- " items at the key's own indentation) or null.
      const items: YamlValue[] = [];
      while (i < lines.length) {
        const l = lines[i]!;
        if (isBlank(l)) {
          i++;
          continue;
        }
        const m = /^(\s*)-(?:\s+(.*))?$/.exec(l);
        if (!m) {
          if (indentOf(l) > 0) fail(i + 1, 'nested mappings are not part of the keystore format');
          break;
        }
        items.push(parseScalar(m[2] ?? '', i + 1));
        i++;
      }
      map.set(key, items.length ? items : null);
      continue;
    }
    if (i < lines.length && !isBlank(lines[i]!) && indentOf(lines[i]!) > 0) {
      fail(i + 1, 'multi-line scalars are not part of the keystore format');
    }
    map.set(key, parseScalar(rest, lineNo));
  }
  return map;
}
