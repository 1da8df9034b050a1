/**
 * The project's shared fixtures live in ../shared/fixtures beside the checkout (CI clones
 * main with shared/ next to it); /work/shared is the workplace's copy.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function sharedFixture(relative: string): string {
  // From test/support (sources) or dist/test/support (compiled bench), the checkout is 2 or 3 levels up.
  for (const base of [join(repo, '..', 'shared'), join(repo, '..', '..', 'shared'), '/work/shared']) {
    const p = join(base, 'fixtures', relative);
    if (existsSync(p)) return p;
  }
  throw new Error(`shared fixture ${relative} not found beside the checkout (../shared/fixtures)`);
}

export const LAPTOP_EVENT_LOG = sharedFixture('eventlogs/laptop-fedora41-sb-off.bin');
