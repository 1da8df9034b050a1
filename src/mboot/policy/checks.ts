/**
 * The evaluation combinators of Keylime's elchecking tests (keylime-ima-mb.md §4.4):
 * a check returns '' to pass or a reason that reads as a sentence after the name of its
 * subject. And stops at the first failure, Or at the first success, Once holds state
 * (so checks are built afresh for every evaluation), a tuple check needs exactly as many
 * elements as it has checks.
 */
export type Check<S> = (subject: S) => string;

export const accept: Check<unknown> = () => '';

export function reject(why: string): Check<unknown> {
  return () => why;
}

export function and<S>(...checks: Check<S>[]): Check<S> {
  return (s) => {
    for (const c of checks) {
      const why = c(s);
      if (why) return why;
    }
    return '';
  };
}

export function or<S>(...checks: Check<S>[]): Check<S> {
  return (s) => {
    if (checks.length === 0) return 'does not pass empty disjunction';
    const reasons: string[] = [];
    for (const c of checks) {
      const why = c(s);
      if (!why) return '';
      reasons.push(why);
    }
    return `[${reasons.join(', ')}]`;
  };
}

export function once<S>(check: Check<S>): Check<S> {
  let used = false;
  return (s) => {
    if (used) return 'test was already run once';
    used = true;
    return check(s);
  };
}

/** Applies a check to a named part of the subject; a missing part fails. */
export function field<S, T>(name: string, get: (s: S) => T | undefined, check: Check<T>, showName = true): Check<S> {
  return (s) => {
    const v = get(s);
    if (v === undefined) return `has no ${name}`;
    const why = check(v);
    return why && showName ? `${name} ${why}` : why;
  };
}

export function each<S>(check: Check<S>): Check<S[]> {
  return (list) => {
    for (let i = 0; i < list.length; i++) {
      const why = check(list[i]!);
      if (why) return `[${i}] ${why}`;
    }
    return '';
  };
}

/**
 * Exactly one element per check, in order. `label` names an element in a failure, so a
 * reason says which boot component it was about.
 */
export function tuple<S>(checks: Check<S>[], label: (s: S, i: number) => string = () => ''): Check<S[]> {
  return (list) => {
    if (list.length > checks.length) return ` is longer (${list.length}) than the applicable tests (${checks.length})`;
    if (list.length < checks.length) return ` is shorter (${list.length}) than the applicable tests (${checks.length})`;
    for (let i = 0; i < checks.length; i++) {
      const why = checks[i]!(list[i]!);
      if (why) {
        const name = label(list[i]!, i);
        return `[${i}]${name ? ` (${name})` : ''} ${why}`;
      }
    }
    return '';
  };
}

export function stringEqual(expected: string): Check<string> {
  return (s) => (s === expected ? '' : `is ${JSON.stringify(s)}, not ${JSON.stringify(expected)}`);
}

export function matches(re: RegExp, shown: string): Check<string> {
  return (s) => (re.test(s) ? '' : `does not match ${shown}`);
}
