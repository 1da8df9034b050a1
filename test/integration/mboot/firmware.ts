/**
 * Plays the firmware and boot loaders of a machine on a fresh swtpm: every event of a
 * log written by test/unit/mboot/builder.ts is extended into the TPM (both banks, in log
 * order, EV_NO_ACTION skipped) and the log is written where the agent reads its
 * binary_bios_measurements. Uses the builder's own digests, not src/mboot, so what the
 * TPM holds does not depend on the parser under test.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tpm, type PcrExtension } from '../../../src/tpm/index.js';
import type { Swtpm } from '../../support/swtpm.js';
import { EV, type EventLogBuilder } from '../../unit/mboot/builder.js';

export interface BootOptions {
  /** Leave this many of the log's last measurements out of the TPM (a log claiming more than happened). */
  unmeasuredTail?: number;
}

export interface BootedMachine {
  /** The binary event log on disk: the agent's `eventLog`. */
  eventLogPath: string;
  /** The PCRs the firmware extended (what the TPM quotes), sha256 bank, lowercase hex. */
  pcrs: Map<number, string>;
}

/**
 * A fresh swtpm starts PCR 0 at zero (TPM2_Startup at locality 0), so the log must not
 * carry a StartupLocality event other than 0: the builder's default has none.
 */
export async function bootMachine(swtpm: Swtpm, builder: EventLogBuilder, dir: string, options: BootOptions = {}): Promise<BootedMachine> {
  const measured = builder.events.filter((e) => e.type !== EV.NO_ACTION);
  const done = measured.slice(0, measured.length - (options.unmeasuredTail ?? 0));
  const extensions: PcrExtension[] = done.flatMap((e) =>
    builder.algs.map((alg) => ({ pcr: e.pcr, bank: alg, digest: e.digests[alg]! })),
  );
  const tpm = new Tpm({ tcti: swtpm.tcti, workDir: join(dir, 'firmware') });
  await tpm.pcrExtendMany(extensions);
  const pcrs = new Map([...(await tpm.pcrRead('sha256', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]))].map(([p, v]) => [p, v.toString('hex')]));
  const eventLogPath = join(dir, 'binary_bios_measurements');
  writeFileSync(eventLogPath, builder.build());
  return { eventLogPath, pcrs };
}
