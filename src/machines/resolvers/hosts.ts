/**
 * The `hosts` machine resolver (spec §3.3): a file in /etc/hosts format. The server reads
 * the file on every query and hands the text here.
 */
import { internalError } from '../errors.js';
import { parseIp } from '../ip.js';
import { pySplit } from '../python.js';
import type { MachineEntry } from '../types.js';

/**
 * One machine per line with at least two fields whose first field does not start with
 * `#`. Inline comments are not stripped: words after `#` become extra hostnames, as in
 * privacyIDEA. An invalid IP in column 1 fails the whole query with a 500.
 */
export function parseHostsFile(text: string): MachineEntry[] {
  const machines: MachineEntry[] = [];
  // Python's universal newlines: \r\n, \r and \n all end a line.
  const lines = text.split(/\r\n|\r|\n/);
  for (let index = 0; index < lines.length; index++) {
    const fields = pySplit(lines[index]!);
    if (fields.length < 2) continue;
    const [id, ...hostnames] = fields as [string, ...string[]];
    if (id.startsWith('#')) continue;
    const ip = parseIp(id);
    if (!ip) throw internalError(`failed to detect IP address format: '${id}' (hosts file line ${index + 1})`);
    machines.push({ id, hostnames, ip: ip.text });
  }
  return machines;
}
