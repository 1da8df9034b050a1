import type { Command } from 'commander';
import { registerDoctor } from './doctor.js';
import { registerCa } from './ca.js';
import { registerRegistrar } from './registrar.js';
import { registerAgentCommand } from './agent.js';
import { registerQuote } from './quote.js';
import { registerVerifier } from './verifier.js';
import { registerPolicy } from './policy.js';
import { registerTenant } from './tenant.js';

/** One register function per command group; a group appears once it really works. */
export function registerCommands(program: Command): void {
  registerDoctor(program);
  registerCa(program);
  registerRegistrar(program);
  registerAgentCommand(program);
  registerQuote(program);
  registerVerifier(program);
  registerTenant(program);
  registerPolicy(program);
}
