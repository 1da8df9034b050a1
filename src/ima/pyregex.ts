/**
 * Translates a Python `re` pattern (str pattern, Python 3.11 rules) into an equivalent
 * JavaScript RegExp source for the `v` flag. Runtime-policy excludes are Python regexes
 * and Keylime applies them with `re.match`; reproducing Python's syntax and semantics
 * matters because an exclude decides whether a file is checked at all.
 *
 * What changes on the way:
 * - every literal that is not a letter or digit is emitted as `\u{..}`, so Python's
 *   harmless escapes (`\ `, `\-`, `\/`) and JS's reserved class punctuation cannot bite;
 * - `.`, `^`, `$`, `\A`, `\Z`, `\b`, `\B`, `\d`, `\s`, `\w` get Python's meaning (e.g.
 *   `.` matches `\r`, `$` also matches before a final newline, `\w` is Unicode-aware);
 * - flags are tracked by the translator; only case-insensitivity is left to JS modifiers;
 * - named groups become plain groups and named/numbered backreferences become `\N`.
 *
 * Errors are typed: `invalid` where Python's `re.compile` raises too, `unsupported`
 * where Python accepts the pattern but JS cannot express it (possessive quantifiers,
 * atomic groups, conditionals, `\N{...}`, backreferences inside lookbehinds or to
 * groups that might not have matched, where JS and Python disagree).
 */
import { KeylimeError } from '../errors.js';

export type PythonRegexErrorKind = 'invalid' | 'unsupported';

export class PythonRegexError extends KeylimeError {
  readonly kind: PythonRegexErrorKind;
  readonly pattern: string;
  readonly position: number;
  constructor(kind: PythonRegexErrorKind, message: string, pattern: string, position: number) {
    super('invalid_input', `${kind === 'invalid' ? 'invalid' : 'untranslatable'} Python regex at position ${position}: ${message}`, {
      details: { kind, pattern, position },
    });
    this.name = 'PythonRegexError';
    this.kind = kind;
    this.pattern = pattern;
    this.position = position;
  }
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  x: boolean;
  a: boolean;
}

/** A translated piece: its JS source, its match width range, and what kind of item it is. */
interface Piece {
  src: string;
  min: number;
  max: number;
  /** 'at' = anchor (cannot be repeated), 'repeat' = already quantified, 'assert' = lookaround. */
  kind: 'atom' | 'at' | 'repeat' | 'assert' | 'group';
  /** Python group numbers opened inside this piece: [g0, g1). */
  g0?: number;
  g1?: number;
}

const INF = Number.POSITIVE_INFINITY;
const MAXREPEAT = 4294967295;

const UNICODE_WORD = '\\p{L}\\p{N}\\u{5f}';
const ASCII_WORD = 'A-Za-z0-9\\u{5f}';
const UNICODE_SPACE = '\\u{9}-\\u{d}\\u{1c}-\\u{20}\\u{85}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}\\u{2029}\\u{202f}\\u{205f}\\u{3000}';
const ASCII_SPACE = '\\u{9}-\\u{d}\\u{20}';

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isOctal = (c: number) => c >= 0x30 && c <= 0x37;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isAsciiLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isVerboseSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** A code point as JS `v`-mode source that matches exactly that code point. */
function lit(cp: number): string {
  if (isDigit(cp) || isAsciiLetter(cp)) return String.fromCodePoint(cp);
  return `\\u{${cp.toString(16)}}`;
}

/** Width product where zero wins over infinity (`x{0}` and `(?:)*` have width 0). */
function widthTimes(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : a * b;
}

type ClassItem = { kind: 'char'; cp: number } | { kind: 'set'; src: string };

class Translator {
  private readonly cps: number[];
  private pos = 0;
  private flags: Flags;
  private globalIgnoreCase = false;
  private nextGroup = 1;
  private readonly closedGroups = new Set<number>();
  private readonly groupNames = new Map<string, number>();
  private lookbehindDepth = 0;
  /**
   * Groups that may not have participated when a later backreference is reached. Python
   * fails such a backreference, JS matches it as empty, so referring to them is refused.
   */
  private readonly conditional = new Set<number>();

  constructor(private readonly pattern: string) {
    this.cps = Array.from(pattern, (ch) => ch.codePointAt(0)!);
    this.flags = { i: false, m: false, s: false, x: false, a: false };
  }

  translate(): string {
    const piece = this.alternation(true);
    if (this.pos < this.cps.length) throw this.invalid('unbalanced parenthesis');
    if (this.globalIgnoreCase && this.flags.a) throw this.unsupported('ASCII-only case folding (flags a and i together)');
    return this.globalIgnoreCase ? `(?i:${piece.src})` : piece.src;
  }

  private invalid(message: string, at = this.pos): PythonRegexError {
    return new PythonRegexError('invalid', message, this.pattern, at);
  }

  private unsupported(message: string, at = this.pos): PythonRegexError {
    return new PythonRegexError('unsupported', message, this.pattern, at);
  }

  private peek(offset = 0): number {
    return this.pos + offset < this.cps.length ? this.cps[this.pos + offset]! : -1;
  }

  private eat(cp: number): boolean {
    if (this.peek() === cp) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** alternatives separated by `|`, up to `)` or the end. */
  private alternation(topLevel: boolean): Piece {
    const g0 = this.nextGroup;
    const branches: Piece[] = [this.sequence(topLevel, true)];
    while (this.eat(0x7c /* | */)) {
      this.markConditional(g0, this.nextGroup);
      branches.push(this.sequence(topLevel, false));
    }
    if (branches.length === 1) return branches[0]!;
    this.markConditional(g0, this.nextGroup);
    return {
      src: branches.map((b) => b.src).join('|'),
      min: Math.min(...branches.map((b) => b.min)),
      max: Math.max(...branches.map((b) => b.max)),
      kind: 'group',
    };
  }

  private sequence(topLevel: boolean, firstBranch: boolean): Piece {
    const items: Piece[] = [];
    for (;;) {
      const c = this.peek();
      if (c === -1 || c === 0x7c || c === 0x29 /* ) */) break;
      if (this.flags.x && this.skipVerbose()) continue;
      if (c === 0x2a || c === 0x2b || c === 0x3f || c === 0x7b) {
        if (this.quantifier(items)) continue;
      }
      const g0 = this.nextGroup;
      const item = this.atom(topLevel && firstBranch && items.length === 0);
      if (item) items.push({ ...item, g0, g1: this.nextGroup });
    }
    let min = 0;
    let max = 0;
    for (const it of items) {
      min += it.min;
      max += it.max;
    }
    return { src: items.map((i) => i.src).join(''), min, max, kind: items.length === 1 ? items[0]!.kind : 'group' };
  }

  private markConditional(from: number, to: number): void {
    for (let g = from; g < to; g++) this.conditional.add(g);
  }

  /** In verbose mode whitespace and `#` comments between items vanish. */
  private skipVerbose(): boolean {
    const c = this.peek();
    if (isVerboseSpace(c)) {
      this.pos++;
      return true;
    }
    if (c === 0x23 /* # */) {
      while (this.pos < this.cps.length && this.cps[this.pos] !== 0x0a) this.pos++;
      if (this.pos < this.cps.length) this.pos++;
      return true;
    }
    return false;
  }

  /**
   * Applies `* + ? {m,n}` to the last item. Returns false when `{` is not a quantifier
   * (Python then treats it as a literal).
   */
  private quantifier(items: Piece[]): boolean {
    const start = this.pos;
    const c = this.cps[this.pos++]!;
    let min: number;
    let max: number;
    if (c === 0x3f) [min, max] = [0, 1];
    else if (c === 0x2a) [min, max] = [0, INF];
    else if (c === 0x2b) [min, max] = [1, INF];
    else {
      if (this.peek() === 0x7d /* } */) {
        this.pos = start;
        return false;
      }
      let lo = '';
      let hi = '';
      while (isDigit(this.peek())) lo += String.fromCodePoint(this.cps[this.pos++]!);
      if (this.eat(0x2c /* , */)) {
        while (isDigit(this.peek())) hi += String.fromCodePoint(this.cps[this.pos++]!);
      } else hi = lo;
      if (!this.eat(0x7d)) {
        this.pos = start;
        return false;
      }
      min = 0;
      max = INF;
      if (lo) {
        min = Number(lo);
        if (min >= MAXREPEAT) throw this.invalid('the repetition number is too large', start);
      }
      if (hi) {
        max = Number(hi);
        if (max >= MAXREPEAT) throw this.invalid('the repetition number is too large', start);
        if (max < min) throw this.invalid('min repeat greater than max repeat', start);
      }
    }
    const last = items[items.length - 1];
    if (!last || last.kind === 'at') throw this.invalid('nothing to repeat', start);
    if (last.kind === 'repeat') throw this.invalid('multiple repeat', start);
    let suffix = '';
    if (this.eat(0x3f)) suffix = '?';
    else if (this.peek() === 0x2b) throw this.unsupported('possessive quantifier');
    if (min === 0 && last.g0 !== undefined && last.g1 !== undefined) this.markConditional(last.g0, last.g1);
    const body = last.kind === 'atom' ? last.src : `(?:${last.src})`;
    const q = min === 0 && max === INF ? '*' : min === 1 && max === INF ? '+' : min === 0 && max === 1 ? '?' : max === INF ? `{${min},}` : min === max ? `{${min}}` : `{${min},${max}}`;
    items[items.length - 1] = {
      src: `${body}${q}${suffix}`,
      min: widthTimes(last.min, min),
      max: widthTimes(last.max, max),
      kind: 'repeat',
    };
    return true;
  }

  /** One item; null for things that produce nothing (comments, leading global flags). */
  private atom(atPatternStart: boolean): Piece | null {
    const start = this.pos;
    const c = this.cps[this.pos++]!;
    switch (c) {
      case 0x28 /* ( */:
        return this.group(start, atPatternStart);
      case 0x5b /* [ */:
        return { src: this.charClass(start), min: 1, max: 1, kind: 'atom' };
      case 0x2e /* . */:
        return { src: this.flags.s ? '[\\u{0}-\\u{10ffff}]' : '[^\\u{a}]', min: 1, max: 1, kind: 'atom' };
      case 0x5e /* ^ */:
        return { src: this.flags.m ? '(?:^|(?<=\\u{a}))' : '^', min: 0, max: 0, kind: 'at' };
      case 0x24 /* $ */:
        return { src: this.flags.m ? '(?=\\u{a}|$)' : '(?=\\u{a}?$)', min: 0, max: 0, kind: 'at' };
      case 0x5c /* \ */:
        return this.escape(start);
      case 0x2a:
      case 0x2b:
      case 0x3f:
      case 0x7b:
        // A `{` that is not a quantifier is a literal; `* + ?` here have nothing to repeat.
        if (c === 0x7b) return { src: lit(c), min: 1, max: 1, kind: 'atom' };
        throw this.invalid('nothing to repeat', start);
      default:
        return { src: lit(c), min: 1, max: 1, kind: 'atom' };
    }
  }

  private group(start: number, atPatternStart: boolean): Piece | null {
    if (!this.eat(0x3f /* ? */)) return this.capture(start, null);
    const c = this.peek();
    if (c === -1) throw this.invalid('unexpected end of pattern');
    this.pos++;
    switch (c) {
      case 0x3a /* : */:
        return this.groupBody(start, (inner) => ({ src: `(?:${inner.src})`, min: inner.min, max: inner.max, kind: 'group' }));
      case 0x50 /* P */: {
        if (this.eat(0x3c /* < */)) {
          const name = this.groupName(0x3e /* > */);
          if (this.groupNames.has(name)) throw this.invalid(`redefinition of group name '${name}'`);
          return this.capture(start, name);
        }
        if (this.eat(0x3d /* = */)) {
          const name = this.groupName(0x29 /* ) */);
          const n = this.groupNames.get(name);
          if (n === undefined) throw this.invalid(`unknown group name '${name}'`);
          return this.backref(n, start);
        }
        throw this.invalid('unknown extension ?P');
      }
      case 0x23 /* # */: {
        while (this.pos < this.cps.length && this.cps[this.pos] !== 0x29) this.pos++;
        if (!this.eat(0x29)) throw this.invalid('missing ), unterminated comment');
        return null;
      }
      case 0x3d /* = */:
      case 0x21 /* ! */:
        return this.lookaround(start, false, c === 0x21);
      case 0x3c /* < */: {
        const d = this.peek();
        if (d === 0x3d || d === 0x21) {
          this.pos++;
          return this.lookaround(start, true, d === 0x21);
        }
        throw this.invalid('unknown extension ?<');
      }
      case 0x28 /* ( */:
        throw this.unsupported('conditional group (?(...)...)', start);
      case 0x3e /* > */:
        throw this.unsupported('atomic group (?>...)', start);
      default:
        this.pos--;
        return this.flagGroup(start, atPatternStart);
    }
  }

  private capture(start: number, name: string | null): Piece {
    const n = this.nextGroup++;
    if (name !== null) this.groupNames.set(name, n);
    return this.groupBody(start, (inner) => {
      this.closedGroups.add(n);
      return { src: `(${inner.src})`, min: inner.min, max: inner.max, kind: 'group' };
    });
  }

  private groupBody(start: number, wrap: (inner: Piece) => Piece): Piece {
    const inner = this.alternation(false);
    if (!this.eat(0x29)) throw this.invalid('missing ), unterminated subpattern', start);
    return wrap(inner);
  }

  private lookaround(start: number, behind: boolean, negative: boolean): Piece {
    if (behind) this.lookbehindDepth++;
    const g0 = this.nextGroup;
    const inner = this.alternation(false);
    if (negative) this.markConditional(g0, this.nextGroup);
    if (behind) this.lookbehindDepth--;
    if (!this.eat(0x29)) throw this.invalid('missing ), unterminated subpattern', start);
    if (behind && inner.min !== inner.max) throw this.invalid('look-behind requires fixed-width pattern', start);
    const head = behind ? (negative ? '(?<!' : '(?<=') : negative ? '(?!' : '(?=';
    return { src: `${head}${inner.src})`, min: 0, max: 0, kind: 'assert' };
  }

  private backref(n: number, start: number): Piece {
    if (!this.closedGroups.has(n)) throw this.invalid('cannot refer to an open group', start);
    if (this.lookbehindDepth > 0) throw this.unsupported('group reference inside a look-behind', start);
    if (this.conditional.has(n)) throw this.unsupported('backreference to a group that may not have participated', start);
    // Python gives a backreference no fixed width; that only matters inside lookbehinds.
    return { src: `(?:\\${n})`, min: 0, max: INF, kind: 'group' };
  }

  private groupName(terminator: number): string {
    const start = this.pos;
    while (this.pos < this.cps.length && this.cps[this.pos] !== terminator) this.pos++;
    if (this.pos >= this.cps.length) throw this.invalid('missing group name terminator', start);
    const name = String.fromCodePoint(...this.cps.slice(start, this.pos));
    this.pos++;
    if (!/^[\p{ID_Start}_][\p{ID_Continue}]*$/u.test(name)) throw this.invalid(`bad character in group name '${name}'`, start);
    return name;
  }

  /** `(?aimsx-imsx:...)` scoped flags, or `(?aimsx)` global flags at the very start. */
  private flagGroup(start: number, atPatternStart: boolean): Piece | null {
    const add = this.flagLetters(true);
    let del = '';
    if (this.eat(0x2d /* - */)) {
      del = this.flagLetters(false);
      if (!del) throw this.invalid('missing flag');
    }
    if (!add && !del) throw this.invalid('unknown extension ?' + (this.peek() === -1 ? '' : String.fromCodePoint(this.peek())), start);
    for (const f of del) if (add.includes(f)) throw this.invalid('bad inline flags: flag turned on and off');
    if (this.eat(0x29 /* ) */)) {
      if (del) throw this.invalid('bad inline flags: cannot turn off global flag');
      if (!atPatternStart) throw this.invalid('global flags not at the start of the expression', start);
      this.applyFlags(add, '');
      if (add.includes('i')) this.globalIgnoreCase = true;
      return null;
    }
    if (!this.eat(0x3a /* : */)) throw this.invalid('missing -, : or )');
    const saved = { ...this.flags };
    this.applyFlags(add, del);
    const inner = this.alternation(false);
    const now = this.flags;
    this.flags = saved;
    if (!this.eat(0x29)) throw this.invalid('missing ), unterminated subpattern', start);
    if (now.i && now.a) throw this.unsupported('ASCII-only case folding (flags a and i together)', start);
    let src = inner.src;
    src = now.i === saved.i ? `(?:${src})` : now.i ? `(?i:${src})` : `(?-i:${src})`;
    return { src, min: inner.min, max: inner.max, kind: 'group' };
  }

  private flagLetters(adding: boolean): string {
    let out = '';
    for (;;) {
      const c = this.peek();
      const ch = c === -1 ? '' : String.fromCodePoint(c);
      if (ch === 'L') throw this.invalid('bad inline flags: cannot use \'L\' flag with a str pattern');
      if (adding ? 'aiumsx'.includes(ch) && ch !== '' : 'imsx'.includes(ch) && ch !== '') {
        out += ch;
        this.pos++;
      } else if (!adding && (ch === 'a' || ch === 'u')) {
        throw this.invalid('bad inline flags: cannot turn off flags \'a\', \'u\' and \'L\'');
      } else break;
    }
    if (out.includes('a') && out.includes('u')) throw this.invalid('bad inline flags: flags \'a\', \'u\' and \'L\' are incompatible');
    return out;
  }

  private applyFlags(add: string, del: string): void {
    for (const f of add) if (f !== 'u') this.flags[f as keyof Flags] = true;
    for (const f of del) this.flags[f as keyof Flags] = false;
  }

  private wordSet(): string {
    return this.flags.a ? ASCII_WORD : UNICODE_WORD;
  }

  /** Escapes outside a character class. */
  private escape(start: number): Piece {
    const c = this.peek();
    if (c === -1) throw this.invalid('bad escape (end of pattern)', start);
    this.pos++;
    const W = `[${this.wordSet()}]`;
    switch (c) {
      case 0x41 /* A */:
        return { src: '^', min: 0, max: 0, kind: 'at' };
      case 0x5a /* Z */:
        return { src: '$', min: 0, max: 0, kind: 'at' };
      case 0x62 /* b */:
        // Python's \b never matches inside an empty string; the lookarounds agree.
        return { src: `(?:(?<=${W})(?!${W})|(?<!${W})(?=${W}))`, min: 0, max: 0, kind: 'at' };
      case 0x42 /* B */:
        return { src: `(?:(?!^$)(?:(?<=${W})(?=${W})|(?<!${W})(?!${W})))`, min: 0, max: 0, kind: 'at' };
      case 0x64 /* d */:
      case 0x44 /* D */:
      case 0x73 /* s */:
      case 0x53 /* S */:
      case 0x77 /* w */:
      case 0x57 /* W */:
        return { src: this.categoryClass(c), min: 1, max: 1, kind: 'atom' };
    }
    if (c === 0x30 /* 0 */) {
      let v = 0;
      for (let k = 0; k < 2 && isOctal(this.peek()); k++) v = v * 8 + (this.cps[this.pos++]! - 0x30);
      return { src: lit(v), min: 1, max: 1, kind: 'atom' };
    }
    if (isDigit(c)) {
      let digits = String.fromCodePoint(c);
      if (isDigit(this.peek())) {
        digits += String.fromCodePoint(this.cps[this.pos++]!);
        if (isOctal(digits.charCodeAt(0)) && isOctal(digits.charCodeAt(1)) && isOctal(this.peek())) {
          digits += String.fromCodePoint(this.cps[this.pos++]!);
          const v = parseInt(digits, 8);
          if (v > 0o377) throw this.invalid(`octal escape value \\${digits} outside of range 0-0o377`, start);
          return { src: lit(v), min: 1, max: 1, kind: 'atom' };
        }
      }
      const n = Number(digits);
      if (n >= this.nextGroup) throw this.invalid(`invalid group reference ${n}`, start);
      return this.backref(n, start);
    }
    const cp = this.simpleEscape(c, start);
    return { src: lit(cp), min: 1, max: 1, kind: 'atom' };
  }

  /** Escapes that stand for one code point (shared by both contexts). */
  private simpleEscape(c: number, start: number): number {
    switch (c) {
      case 0x61 /* a */:
        return 0x07;
      case 0x66 /* f */:
        return 0x0c;
      case 0x6e /* n */:
        return 0x0a;
      case 0x72 /* r */:
        return 0x0d;
      case 0x74 /* t */:
        return 0x09;
      case 0x76 /* v */:
        return 0x0b;
      case 0x78 /* x */:
        return this.hexDigits(2, start);
      case 0x75 /* u */:
        return this.hexDigits(4, start);
      case 0x55 /* U */: {
        const v = this.hexDigits(8, start);
        if (v > 0x10ffff) throw this.invalid('bad escape \\U', start);
        return v;
      }
      case 0x4e /* N */:
        throw this.unsupported('named Unicode escape \\N{...}', start);
    }
    if (isAsciiLetter(c) || isDigit(c)) throw this.invalid(`bad escape \\${String.fromCodePoint(c)}`, start);
    return c;
  }

  private hexDigits(count: number, start: number): number {
    let v = 0;
    for (let k = 0; k < count; k++) {
      const d = this.peek();
      if (!isHex(d)) throw this.invalid('incomplete escape', start);
      v = v * 16 + parseInt(String.fromCodePoint(d), 16);
      this.pos++;
    }
    return v;
  }

  private categoryClass(c: number): string {
    const set = this.categorySet(c);
    const negated = c === 0x44 || c === 0x53 || c === 0x57;
    return negated ? `[^${set}]` : `[${set}]`;
  }

  private categorySet(c: number): string {
    switch (c) {
      case 0x64:
      case 0x44:
        return this.flags.a ? '0-9' : '\\p{Nd}';
      case 0x73:
      case 0x53:
        return this.flags.a ? ASCII_SPACE : UNICODE_SPACE;
      default:
        return this.wordSet();
    }
  }

  /** `[...]` with Python's rules: a leading `]` is literal, ranges need literal ends. */
  private charClass(start: number): string {
    const negate = this.eat(0x5e /* ^ */);
    const bodyStart = this.pos;
    const items: string[] = [];
    for (;;) {
      const c = this.peek();
      if (c === -1) throw this.invalid('unterminated character set', start);
      if (c === 0x5d /* ] */ && this.pos !== bodyStart) {
        this.pos++;
        break;
      }
      const first = this.classAtom(start);
      if (this.peek() === 0x2d /* - */) {
        this.pos++;
        const d = this.peek();
        if (d === -1) throw this.invalid('unterminated character set', start);
        if (d === 0x5d) {
          this.pos++;
          items.push(this.classItemSrc(first), lit(0x2d));
          break;
        }
        const second = this.classAtom(start);
        if (first.kind !== 'char' || second.kind !== 'char') throw this.invalid('bad character range', start);
        if (second.cp < first.cp) throw this.invalid('bad character range', start);
        items.push(`${lit(first.cp)}-${lit(second.cp)}`);
      } else items.push(this.classItemSrc(first));
    }
    return `[${negate ? '^' : ''}${items.join('')}]`;
  }

  private classItemSrc(item: ClassItem): string {
    return item.kind === 'char' ? lit(item.cp) : item.src;
  }

  private classAtom(start: number): ClassItem {
    const c = this.cps[this.pos++]!;
    if (c !== 0x5c) return { kind: 'char', cp: c };
    const e = this.peek();
    if (e === -1) throw this.invalid('bad escape (end of pattern)', start);
    this.pos++;
    switch (e) {
      case 0x62 /* b */:
        return { kind: 'char', cp: 0x08 };
      case 0x64:
      case 0x44:
      case 0x73:
      case 0x53:
      case 0x77:
      case 0x57:
        // Nested classes are legal in `v` mode, which makes \W and friends composable.
        return { kind: 'set', src: this.categoryClass(e) };
    }
    if (isOctal(e)) {
      let v = e - 0x30;
      for (let k = 0; k < 2 && isOctal(this.peek()); k++) v = v * 8 + (this.cps[this.pos++]! - 0x30);
      if (v > 0o377) throw this.invalid('octal escape value outside of range 0-0o377', start);
      return { kind: 'char', cp: v };
    }
    return { kind: 'char', cp: this.simpleEscape(e, this.pos - 2) };
  }
}

/**
 * JS source (for `new RegExp(source, 'v')`) equivalent to the Python pattern.
 * Throws PythonRegexError.
 */
export function translatePythonRegex(pattern: string): string {
  const src = new Translator(pattern).translate();
  try {
    new RegExp(src, 'v');
  } catch (e) {
    throw new PythonRegexError('unsupported', `JavaScript rejected the translation: ${(e as Error).message}`, pattern, 0);
  }
  return src;
}

/**
 * A RegExp that behaves like Python's `re.compile(pattern).match(s)` (anchored at the
 * start only) when used with `.test(s)`.
 */
export function compilePythonMatch(pattern: string): RegExp {
  return new RegExp(`^(?:${translatePythonRegex(pattern)})`, 'v');
}

/**
 * Keylime joins the excludes as `(e1)|(e2)|...` and compiles that as ONE pattern, so
 * an error anywhere (or a group reference across entries) behaves as in Python.
 * Returns null for an empty list.
 */
export function compileExcludes(excludes: readonly string[]): RegExp | null {
  if (excludes.length === 0) return null;
  return compilePythonMatch(excludes.map((e) => `(${e})`).join('|'));
}
