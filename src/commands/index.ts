import type { Command } from 'commander';
import { registerDoctor } from './doctor.js';

/** One register function per command group; a group appears once it really works. */
export function registerCommands(program: Command): void {
  registerDoctor(program);
}
