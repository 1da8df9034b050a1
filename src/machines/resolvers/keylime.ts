/**
 * The `keylime` machine resolver: its machines are the verifier's agents. The machine id
 * is the agent UUID, the IP its contact address, and hostnames come from what the
 * registration or the verifier metadata tells.
 */
import { parseIp } from '../ip.js';
import type { KeylimeAgentSummary, MachineEntry } from '../types.js';

export function machineFromAgent(agent: KeylimeAgentSummary): MachineEntry {
  const hostnames: string[] = [];
  const add = (name: unknown) => {
    if (typeof name === 'string' && name !== '' && !hostnames.includes(name)) hostnames.push(name);
  };
  add(agent.hostname);
  for (const name of hostnamesFromMetadata(agent.metadata)) add(name);
  const ip = typeof agent.ip === 'string' ? (parseIp(agent.ip)?.text ?? null) : null;
  return { id: agent.agentId, hostnames, ip };
}

/**
 * Keylime stores agent metadata as a JSON string (or object). `hostname` (a string) and
 * `hostnames` (an array of strings) are read; anything else, including invalid JSON, gives [].
 */
export function hostnamesFromMetadata(metadata: unknown): string[] {
  let value = metadata;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return [];
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const record = value as Record<string, unknown>;
  const names: string[] = [];
  if (typeof record.hostname === 'string') names.push(record.hostname);
  if (Array.isArray(record.hostnames)) {
    for (const name of record.hostnames) if (typeof name === 'string') names.push(name);
  }
  return names.filter((name) => name !== '');
}
