/**
 * Dispatch from a resolver record to its machines. The I/O (reading a hosts file, asking
 * the verifier for agents) comes in as functions, so this module stays pure.
 */
import { internalError } from '../errors.js';
import type { Awaitable, KeylimeAgentDirectory, MachineDirectory, MachineEntry, MachineResolverRecord } from '../types.js';
import { parseHostsFile } from './hosts.js';
import { machineFromAgent } from './keylime.js';

export interface MachineDirectoryDeps {
  /** Reads the hosts resolver's `filename`; errors become 500s, as an unreadable file does in privacyIDEA. */
  readHostsFile(filename: string): Awaitable<string>;
  /** The verifier's agents, for resolvers of type `keylime`. */
  keylimeAgents?: KeylimeAgentDirectory;
}

export function createMachineDirectory(deps: MachineDirectoryDeps): MachineDirectory {
  return {
    async machinesOf(resolver: MachineResolverRecord): Promise<MachineEntry[]> {
      switch (resolver.type) {
        case 'hosts': {
          const filename = resolver.config.filename?.value;
          if (!filename) throw internalError('filename is missing!');
          let text: string;
          try {
            text = await deps.readHostsFile(filename);
          } catch (e) {
            throw internalError(`cannot read hosts file ${filename}: ${(e as Error)?.message ?? String(e)}`);
          }
          return parseHostsFile(text);
        }
        case 'keylime': {
          if (!deps.keylimeAgents) throw internalError('no verifier is attached to the keylime machine resolver');
          const agents = await deps.keylimeAgents.listAgents();
          return agents.map(machineFromAgent);
        }
        case 'ldap':
          // Not queried here. privacyIDEA logs LDAP search errors and answers [], so an
          // ldap resolver contributes no machines instead of breaking every lookup.
          return [];
        default:
          throw internalError(`machine resolvers of type ${String(resolver.type)} are not supported`);
      }
    },
  };
}
