import type { Command } from 'commander';
import { registerPolicyMb } from './policy-mb.js';

/** Offline policy tooling: measured-boot reference states (and runtime policies). */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('create, inspect and test attestation policies offline (no server needed)');
  registerPolicyMb(policy);
}
