/**
 * Refstate `kernel_cmdline` values are Python regexes (create_mb_policy writes
 * `re.escape` output) matched with `re.fullmatch`. This translates the Python-only syntax
 * into a JavaScript RegExp anchored at both ends. No `u` flag: Python escapes such as
 * `\ ` and `\-` are identity escapes that `u` mode rejects (keylime-ima-mb.md §6.2).
 */
export function pythonFullmatch(pattern: string, options: { dotAll?: boolean } = {}): RegExp {
  let flags = options.dotAll ? 's' : '';
  let body = pattern;
  const inline = /^\(\?([aiLmsux]+)\)/.exec(body);
  if (inline) {
    for (const f of inline[1]!) {
      if (f === 'x') throw new SyntaxError('verbose (?x) patterns are not supported');
      if ('ims'.includes(f) && !flags.includes(f)) flags += f;
    }
    body = body.slice(inline[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      const next = body[i + 1];
      if (next === undefined) throw new SyntaxError('pattern ends with a backslash');
      if (!inClass && next === 'A') out += '^';
      else if (!inClass && next === 'Z') out += '$';
      else out += c + next;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal in Python.
      if (body[i + 1] === '^') out += body[++i];
      if (body[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (body.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      continue;
    }
    const backref = /^\(\?P=(\w+)\)/.exec(body.slice(i));
    if (backref) {
      out += `\\k<${backref[1]}>`;
      i += backref[0].length - 1;
      continue;
    }
    out += c;
  }
  return new RegExp(`^(?:${out})$`, flags);
}

/**
 * Python's `re.escape` (3.7+): a backslash before each character that can be special,
 * `()[]{}?*+-|^$\.&~#`, space and the whitespace controls; everything else is kept.
 */
export function pythonReEscape(text: string): string {
  return text.replace(/[()[\]{}?*+\-|^$\\.&~# \t\n\r\v\f]/g, (c) => `\\${c}`);
}
