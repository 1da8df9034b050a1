/**
 * privacyIDEA's `*` filters (§2.3, quirk 3): the value with `*` replaced by `.*` is used
 * as an unescaped regular expression, matched at the start only, case-insensitively.
 *
 * Most filters use only `*`, `.` and literal characters; those are matched here with a
 * linear-time table instead of a backtracking engine, because a filter like `*a*a*a*a*b`
 * would otherwise take exponential time. Filters with other regex syntax go to RegExp,
 * refusing shapes known to backtrack catastrophically.
 */
import { internalError, parameterError } from './errors.js';

export type WildcardMatcher = (subject: string) => boolean;

const REGEX_SYNTAX = /[\\^$+?()[\]{}|]/;

export function compileWildcard(filter: string): WildcardMatcher {
  const pattern = filter.replace(/\*/g, '.*');
  if (!REGEX_SYNTAX.test(pattern)) return simpleMatcher(pattern);
  return regexMatcher(pattern, filter);
}

type Token = { kind: 'char'; ch: string } | { kind: 'any' } | { kind: 'star' };

/** Tokens: a literal character, `.` (one char except newline), `.*` (any run without newline). */
function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '.' && chars[i + 1] === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
      i++;
    } else if (ch === '.') tokens.push({ kind: 'any' });
    else tokens.push({ kind: 'char', ch });
  }
  return tokens;
}

function simpleMatcher(pattern: string): WildcardMatcher {
  const tokens = tokenize(pattern);
  return (subject: string) => {
    const chars = [...subject];
    // reachable[i]: the tokens consumed so far can end at subject position i.
    let reachable = new Uint8Array(chars.length + 1);
    reachable[0] = 1;
    for (const token of tokens) {
      const next = new Uint8Array(chars.length + 1);
      let any = false;
      for (let i = 0; i <= chars.length; i++) {
        if (token.kind === 'star') {
          // `.*` extends a reachable position over any run of non-newline characters.
          if (reachable[i] || (i > 0 && next[i - 1] && chars[i - 1] !== '\n')) {
            next[i] = 1;
            any = true;
          }
        } else if (i > 0 && reachable[i - 1] && stepMatches(token, chars[i - 1]!)) {
          next[i] = 1;
          any = true;
        }
      }
      if (!any) return false;
      reachable = next;
    }
    return reachable.some((r) => r === 1);
  };
}

function stepMatches(token: Token, ch: string): boolean {
  if (token.kind === 'any') return ch !== '\n';
  if (token.kind !== 'char') return false;
  return sameIgnoringCase(token.ch, ch);
}

function sameIgnoringCase(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase() || a.toUpperCase() === b.toUpperCase();
}

/** Nested or alternated quantified groups, like `(a+)+` or `(a|a)*`, backtrack exponentially. */
function looksCatastrophic(pattern: string): boolean {
  const groups: Array<{ risky: boolean }> = [];
  let quantifiers = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      i++;
      continue;
    }
    if (ch === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) return false; // RegExp reports the syntax error
      i = close;
      continue;
    }
    if (ch === '(') groups.push({ risky: false });
    else if (ch === '|' && groups.length) groups.at(-1)!.risky = true;
    else if ('*+?{'.includes(ch)) {
      quantifiers++;
      if (groups.length) groups.at(-1)!.risky = true;
    } else if (ch === ')') {
      const group = groups.pop();
      const next = pattern[i + 1];
      if (group?.risky && next !== undefined && '*+{'.includes(next)) return true;
      if (group?.risky && groups.length) groups.at(-1)!.risky = true;
    }
  }
  return quantifiers > 12;
}

function regexMatcher(pattern: string, filter: string): WildcardMatcher {
  if (looksCatastrophic(pattern)) {
    throw parameterError(`The filter ${filter} is a regular expression too expensive to evaluate.`);
  }
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${pattern})`, 'i');
  } catch (e) {
    throw internalError(`re.error: ${(e as Error).message}`);
  }
  return (subject: string) => regex.test(subject);
}
