import { invalidInput } from '../errors.js';
import { ipBytes } from './der.js';
import type { SanEntry } from './x509.js';

const label = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/**
 * Classify a --host value as an IP literal or a DNS name (brackets around IPv6 are
 * accepted, as people paste them from URLs). Anything else is an input error, so a typo
 * never ends up inside a certificate.
 */
export function sanEntry(host: string): SanEntry {
  const text = host.trim().replace(/^\[(.*)\]$/, '$1');
  if (ipBytes(text)) return { type: 'ip', value: text };
  const labels = text.split('.');
  if (labels[0] === '*') labels.shift();
  if (text.length === 0 || text.length > 253 || labels.length === 0 || !labels.every((l) => label.test(l))) {
    throw invalidInput(`not a host name or IP address: ${JSON.stringify(host)}`);
  }
  return { type: 'dns', value: text };
}

/** Entries in the order given, without duplicates (DNS case-insensitive, IPs by value). */
export function sanEntries(hosts: Iterable<string>): SanEntry[] {
  const seen = new Set<string>();
  const out: SanEntry[] = [];
  for (const host of hosts) {
    const e = sanEntry(host);
    const key = e.type === 'dns' ? `dns:${e.value.toLowerCase()}` : `ip:${ipBytes(e.value)!.toString('hex')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
