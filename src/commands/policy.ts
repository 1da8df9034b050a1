import type { Command } from 'commander';
import { registerPolicyMb } from './policy-mb.js';
import { registerPolicyRuntime } from './policy-runtime.js';

/** Offline policy tooling: IMA runtime policies and measured-boot reference states. */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('create, inspect and test attestation policies offline (no server needed)');
  registerPolicyRuntime(policy);
  registerPolicyMb(policy);
}
