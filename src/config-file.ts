import type { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { KeylimeError } from './errors.js';

/**
 * --config FILE: a JSON document of option defaults per command group, e.g.
 *   { "verifier": { "quote-interval": 1, "webhook": "https://alerts/keylime" },
 *     "tenant": { "verifier": "10.0.0.5:8881" }, "global": { "data-dir": "/srv/keylime-ts" } }
 * A value from the file is used only where neither the flag nor its KEYLIME_TS_* twin was
 * given (DESIGN: flag > environment > config file > default). Unknown names are an error.
 */
export type ConfigDocument = Record<string, Record<string, unknown>>;

export function readConfigFile(path: string): ConfigDocument {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new KeylimeError('not_found', `config file ${path} cannot be read`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KeylimeError('invalid_input', `config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Object.values(doc).every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
    throw new KeylimeError('invalid_input', `config file ${path} must be an object of sections, e.g. {"verifier": {"port": 8881}}`);
  }
  return doc as ConfigDocument;
}

/** The command and its ancestors up to (not including) the program: their options all apply. */
function chain(command: Command): Command[] {
  const out: Command[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) out.push(c);
  return out;
}

function findOption(commands: Command[], name: string): { command: Command; option: Option } | undefined {
  const flag = `--${name.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`;
  for (const command of commands) {
    const option = command.options.find((o) => o.long === flag || o.long === `--no-${name}`);
    if (option) return { command, option };
  }
  return undefined;
}

/** Applies the section of `doc` for the group of `command` (plus "global") where the user gave nothing. */
export function applyConfig(command: Command, doc: ConfigDocument, path: string): void {
  const commands = chain(command);
  const group = commands.at(-1)!.name();
  const sections = [['global', doc.global ?? {}], [group, doc[group] ?? {}]] as const;
  for (const [section, values] of sections) {
    for (const [name, value] of Object.entries(values)) {
      const found = findOption(commands, name);
      if (!found) {
        if (section === 'global') continue; // global keys need only fit some commands
        throw new KeylimeError('usage', `config file ${path}: "${group}" has no option "${name}"`);
      }
      const { command: owner, option } = found;
      const key = option.attributeName();
      const source = owner.getOptionValueSource(key);
      if (source === 'cli' || source === 'env') continue;
      let parsed: unknown = value;
      if (option.negate) parsed = value === false ? false : true;
      else if (typeof value !== 'boolean' && option.parseArg) parsed = option.parseArg(String(value), undefined as never);
      else if (typeof value === 'number') parsed = String(value);
      owner.setOptionValueWithSource(key, parsed, 'config');
    }
  }
}
