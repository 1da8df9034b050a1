import type { Command, Option } from 'commander';

/**
 * Man pages generated from the commander definitions, so --help and man never disagree:
 * keylime-ts(1) for the program and keylime-ts-<group>(1) for each command group.
 */
export interface ManPage {
  file: string;
  text: string;
}

function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

function visibleOptions(cmd: Command): readonly Option[] {
  return cmd.options.filter((o) => !o.hidden);
}

function optionLines(cmd: Command): string[] {
  const out: string[] = [];
  for (const o of visibleOptions(cmd)) {
    out.push('.TP', `.B ${esc(o.flags)}`);
    let desc = o.description ?? '';
    if (o.defaultValue !== undefined && o.defaultValue !== false) desc += ` (default: ${String(o.defaultValue)})`;
    if (o.envVar) desc += ` [env ${o.envVar}]`;
    out.push(esc(desc));
  }
  return out;
}

function usageOf(cmd: Command, prefix: string): string {
  return `${prefix} ${cmd.usage()}`.trim();
}

function extraHelp(cmd: Command): string {
  // commander keeps addHelpText('after') text in its event listeners; render it via helpInformation's tail.
  const full = captureHelp(cmd);
  const base = cmd.helpInformation();
  return full.startsWith(base) ? full.slice(base.length).trim() : '';
}

function captureHelp(cmd: Command): string {
  let text = '';
  const c = cmd as Command & { outputHelp(context?: { error?: boolean }): void };
  const original = cmd.configureOutput();
  cmd.configureOutput({ ...original, writeOut: (s: string) => (text += s), writeErr: (s: string) => (text += s) });
  try {
    c.outputHelp();
  } finally {
    cmd.configureOutput(original);
  }
  return text;
}

function commandSection(cmd: Command, prefix: string, depth: number): string[] {
  const out: string[] = [];
  const name = `${prefix} ${cmd.name()}`;
  out.push(depth === 0 ? `.SS ${esc(name)}` : `.SS ${esc(name)}`);
  out.push(esc(cmd.description()), '.PP', `.B ${esc(usageOf(cmd, name))}`);
  const opts = optionLines(cmd);
  if (opts.length) out.push('.RS', ...opts, '.RE');
  const extra = extraHelp(cmd);
  if (extra) out.push('.PP', '.nf', esc(extra), '.fi');
  for (const sub of cmd.commands) out.push(...commandSection(sub, name, depth + 1));
  return out;
}

function header(title: string, section = '1'): string[] {
  return [`.TH ${title.toUpperCase().replace(/-/g, '\\-')} ${section} "" "keylime-ts" "keylime-ts manual"`];
}

export function generateManPages(program: Command): ManPage[] {
  const pages: ManPage[] = [];
  const groups = program.commands;
  const main = [
    ...header('keylime-ts'),
    '.SH NAME',
    `keylime\\-ts \\- ${esc(program.description().split('.')[0] ?? '')}`,
    '.SH SYNOPSIS',
    '.B keylime\\-ts',
    '.I command',
    '[options]',
    '.SH DESCRIPTION',
    esc(program.description()),
    '.SH COMMANDS',
    ...groups.flatMap((g) => ['.TP', `.B ${esc(g.name())}`, `${esc(g.description())} See \\fBkeylime\\-ts\\-${esc(g.name())}\\fR(1).`]),
    '.SH EXIT STATUS',
    '0 success; 1 the thing checked is false (attestation failed, quote invalid); 2 usage or input error; 3 a server or TPM could not be reached; 4 not found.',
    '.SH ENVIRONMENT',
    'Every flag has a twin environment variable KEYLIME_TS_*. KEYLIME_TS_HOME sets the data directory; NO_COLOR turns colours off.',
    '.SH SEE ALSO',
    groups.map((g) => `\\fBkeylime\\-ts\\-${esc(g.name())}\\fR(1)`).join(', '),
  ];
  pages.push({ file: 'keylime-ts.1', text: main.join('\n') + '\n' });
  for (const g of groups) {
    const lines = [
      ...header(`keylime-ts-${g.name()}`),
      '.SH NAME',
      `keylime\\-ts\\-${esc(g.name())} \\- ${esc(g.description())}`,
      '.SH SYNOPSIS',
      `.B ${esc(usageOf(g, `keylime-ts ${g.name()}`))}`,
      '.SH DESCRIPTION',
      esc(g.description()),
      '.SH COMMANDS',
      ...commandSection(g, 'keylime-ts', 0),
      '.SH SEE ALSO',
      '\\fBkeylime\\-ts\\fR(1)',
    ];
    pages.push({ file: `keylime-ts-${g.name()}.1`, text: lines.join('\n') + '\n' });
  }
  return pages;
}
