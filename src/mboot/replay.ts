import { hash } from 'node:crypto';
import { EventType } from './eventTypes.js';
import type { BankName, EventLog } from './types.js';

/** node:crypto names of the banks we can replay; other banks are reported as unsupported. */
const NODE_HASH: Partial<Record<BankName, string>> = {
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sm3_256: 'sm3',
};

export interface BankReplay {
  alg: BankName;
  digestSize: number;
  /** PCR index → value, for every PCR the log extended (or seeded, PCR 0 at a non-zero locality). */
  pcrs: Map<number, Buffer>;
}

export interface PcrReplay {
  banks: Map<BankName, BankReplay>;
  /** Banks named in the Spec ID event that node:crypto cannot compute. */
  unsupportedBanks: BankName[];
  /** The StartupLocality EV_NO_ACTION value, if the log has one for PCR 0. */
  startupLocality: number | null;
  /** An EV_EFI_HCRTM_EVENT was logged: PCR 0 started from locality 4. */
  hcrtm: boolean;
}

/**
 * TCG-correct replay (keylime-ima-mb.md §4.3): every PCR starts at zero, except PCR 0,
 * whose last byte is 4 after an H-CRTM event or the StartupLocality value otherwise;
 * EV_NO_ACTION events are never extended; every other event extends each bank it has a
 * digest for. (tpm2_eventlog 5.4 differs on PCR 0: it extends EV_NO_ACTION digests and
 * ignores the locality.)
 */
export function replayEventLog(log: EventLog): PcrReplay {
  let startupLocality: number | null = null;
  let hcrtm = false;
  for (const e of log.events) {
    if (e.pcrIndex !== 0) continue;
    if (e.eventType === EventType.EV_EFI_HCRTM_EVENT) hcrtm = true;
    if (startupLocality === null && e.content.kind === 'startup_locality') startupLocality = e.content.locality;
  }
  const pcr0Seed = hcrtm ? 4 : startupLocality ?? 0;

  const banks = new Map<BankName, BankReplay>();
  const unsupportedBanks: BankName[] = [];
  for (const a of log.algorithms) {
    if (NODE_HASH[a.name]) banks.set(a.name, { alg: a.name, digestSize: a.digestSize, pcrs: new Map() });
    else unsupportedBanks.push(a.name);
  }
  if (pcr0Seed !== 0) {
    for (const bank of banks.values()) {
      const seed = Buffer.alloc(bank.digestSize);
      seed[bank.digestSize - 1] = pcr0Seed;
      bank.pcrs.set(0, seed);
    }
  }

  for (const e of log.events) {
    if (e.eventType === EventType.EV_NO_ACTION) continue;
    for (const d of e.digests) {
      const bank = banks.get(d.alg);
      if (!bank) continue;
      const current = bank.pcrs.get(e.pcrIndex) ?? Buffer.alloc(bank.digestSize);
      bank.pcrs.set(e.pcrIndex, extend(bank.alg, current, d.digest));
    }
  }
  return { banks, unsupportedBanks, startupLocality, hcrtm };
}

/** PCR_new = H(PCR_old || digest). */
export function extend(alg: BankName, pcr: Buffer, digest: Buffer): Buffer {
  const name = NODE_HASH[alg];
  if (!name) throw new RangeError(`no hash for bank ${alg}`);
  return hash(name, Buffer.concat([pcr, digest]), 'buffer');
}

export function hashFor(alg: BankName): ((data: Buffer) => Buffer) | null {
  const name = NODE_HASH[alg];
  return name ? (data) => hash(name, data, 'buffer') : null;
}

/**
 * The boot_aggregate candidates Keylime adds to an IMA policy (§1.4): per bank,
 * H(PCR0..PCR7) and H(PCR0..PCR9) over full-width values. A candidate whose range has a
 * PCR the log never extended is skipped, not computed with zeros.
 */
export function bootAggregates(replay: PcrReplay): Partial<Record<BankName, string[]>> {
  const out: Partial<Record<BankName, string[]>> = {};
  for (const bank of replay.banks.values()) {
    const values: string[] = [];
    for (const last of [7, 9]) {
      const parts: Buffer[] = [];
      for (let i = 0; i <= last; i++) {
        const v = bank.pcrs.get(i);
        if (v) parts.push(v);
      }
      if (parts.length === last + 1) values.push(hashFor(bank.alg)!(Buffer.concat(parts)).toString('hex'));
    }
    out[bank.alg] = values;
  }
  return out;
}
