import type { Command } from 'commander';
import { registerAgentCommand } from './agent.js';
import { registerCa } from './ca.js';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerMachine } from './machine.js';
import { registerPolicy } from './policy.js';
import { registerQuote } from './quote.js';
import { registerRegistrar } from './registrar.js';
import { registerTenant } from './tenant.js';
import { registerToken } from './token.js';
import { registerVerifier } from './verifier.js';

/** One register function per command group, in the order --help lists them. */
export function registerCommands(program: Command): void {
  registerDemo(program);
  registerVerifier(program);
  registerRegistrar(program);
  registerAgentCommand(program);
  registerTenant(program);
  registerMachine(program);
  registerToken(program);
  registerQuote(program);
  registerPolicy(program);
  registerCa(program);
  registerDoctor(program);
}
