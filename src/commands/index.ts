import type { Command } from 'commander';

/** One register function per command group; a group appears once it really works. */
export function registerCommands(program: Command): void {
  void program;
}
