/**
 * Machine resolvers backed by real sources: hosts files read from disk, and the `keylime`
 * resolver whose machines are the verifier's agents.
 */
import { open } from 'node:fs/promises';
import {
  createMachineDirectory,
  type KeylimeAgentSummary,
  type MachineDirectory,
  type MachineEntry,
  type MachineResolverRecord,
} from '../../machines/index.js';
import type { MachineAgentInfo, MachineAgentSource } from './deps.js';

/** A hosts file larger than this is not a hosts file (and /dev/zero must not hang the verifier). */
export const MAX_HOSTS_FILE_BYTES = 16 * 1024 * 1024;

export async function readHostsFile(filename: string): Promise<string> {
  const handle = await open(filename, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${filename} is not a regular file`);
    if (info.size > MAX_HOSTS_FILE_BYTES) throw new Error(`${filename} is larger than ${MAX_HOSTS_FILE_BYTES} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

export function agentSummary(agent: MachineAgentInfo): KeylimeAgentSummary {
  return {
    agentId: agent.agent_id,
    ip: agent.ip ?? null,
    hostname: agent.hostname ?? null,
    metadata: agent.meta_data ?? agent.metadata,
  };
}

/**
 * The agent id is added as the last hostname of a keylime machine, so an agent without a
 * hostname in its registration or metadata can still be named in /machine/authitem.
 */
function withIdAsHostname(entry: MachineEntry): MachineEntry {
  return entry.hostnames.includes(entry.id) ? entry : { ...entry, hostnames: [...entry.hostnames, entry.id] };
}

export function verifierMachineDirectory(agents: MachineAgentSource, readFile: (name: string) => Promise<string> = readHostsFile): MachineDirectory {
  const base = createMachineDirectory({
    readHostsFile: readFile,
    keylimeAgents: { listAgents: () => agents.list().map(agentSummary) },
  });
  return {
    async machinesOf(resolver: MachineResolverRecord): Promise<MachineEntry[]> {
      const entries = await base.machinesOf(resolver);
      return resolver.type === 'keylime' ? entries.map(withIdAsHostname) : entries;
    },
  };
}
