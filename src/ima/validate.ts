/**
 * Policy checks for one parsed entry, in Keylime's order (spec §1.5 steps after the
 * template hash, and the template validators of §1.6). At most one event per entry.
 */
import { IMA_EVENT, imaEvent, type EventPlace, type ImaEvent } from './events.js';
import type { ImaEntry } from './entry.js';
import { keyFromBytes } from './keys.js';
import type { KeyringSet } from './keyrings.js';
import type { CompiledRuntimePolicy } from './policy.js';
import { verifyImaSignature } from './signature.js';

export class EntryPolicyChecker {
  /** boot_aggregate's accepted digests when a measured-boot log supplied extra ones. */
  private readonly bootAggregate: readonly string[] | null;

  constructor(
    private readonly policy: CompiledRuntimePolicy,
    private readonly keyrings: KeyringSet,
    bootAggregates: Record<string, readonly string[]> | null | undefined,
  ) {
    this.bootAggregate = mergeBootAggregates(policy, bootAggregates);
  }

  /** `line`/`entry` locate the entry in events. */
  check(e: ImaEntry, line: number, entry: number): ImaEvent | null {
    const place: EventPlace = { line, entry };
    return this.checkAt(e, place);
  }

  private checkAt(e: ImaEntry, place: EventPlace): ImaEvent | null {
    switch (e.template) {
      case 'ima':
      case 'ima-ng':
        return this.checkDigest(e.name, e.digest, this.policy.digests, place);
      case 'ima-sig':
        if (e.signature !== '' && (this.isExcluded(e.name) || this.signatureVerifies(e))) return null;
        return this.checkDigest(e.name, e.digest, this.policy.digests, place);
      case 'ima-buf':
        return this.checkBuffer(e, place);
    }
  }

  private isExcluded(name: string): boolean {
    const x = this.policy.exclude;
    return x !== null && x.test(name);
  }

  private signatureVerifies(e: ImaEntry): boolean {
    const rings = this.keyrings.rings();
    if (rings.length === 0) return false;
    return verifyImaSignature(Buffer.from(e.signature, 'hex'), Buffer.from(e.digest, 'hex'), e.digestAlg, rings);
  }

  /** Keylime's `_validate_ima_ng`: excluded, else the name must be listed with this digest. */
  private checkDigest(name: string, digest: string, map: ReadonlyMap<string, readonly string[]>, place: EventPlace): ImaEvent | null {
    if (this.isExcluded(name)) return null;
    let accepted = map.get(name);
    if (map === this.policy.digests && name === 'boot_aggregate' && this.bootAggregate) accepted = this.bootAggregate;
    if (accepted === undefined) {
      return imaEvent(IMA_EVENT.notInAllowlist, { message: `File not found in allowlist: ${name}` }, { ...place, path: name });
    }
    if (accepted.includes(digest)) return null;
    // The replay hands over the digest as logged; policies hold lowercase hex.
    const lower = digest.toLowerCase();
    if (lower !== digest) {
      digest = lower;
      if (accepted.includes(digest)) return null;
    }
    return imaEvent(
      IMA_EVENT.runtimePolicyHash,
      { message: 'Hash not found in runtime policy', got: digest, expected: [...accepted], path: name },
      { ...place, path: name },
    );
  }

  private checkBuffer(e: ImaEntry, place: EventPlace): ImaEvent | null {
    const found = keyFromBytes(Buffer.from(e.buffer, 'hex'));
    if (found && 'unsupported' in found) {
      return imaEvent(
        IMA_EVENT.invalidKey,
        { message: `key from ${e.name} does not have a supported key: Unsupported key type ${found.unsupported}` },
        { ...place, path: e.name },
      );
    }
    if (found) {
      const ignored = this.policy.ignoredKeyrings;
      if (ignored.has('*') || ignored.has(e.name)) return null;
      const ev = this.checkDigest(e.name, e.digest, this.policy.keyrings, place);
      if (!ev) this.keyrings.learn(e.name, found.key, found.keyid);
      return ev;
    }
    return this.checkDigest(e.name, e.digest, this.policy.imaBuf, place);
  }
}

/**
 * Keylime appends every measured-boot aggregate to `digests.boot_aggregate` (creating
 * it if absent) before validating; done here without mutating the shared policy.
 */
function mergeBootAggregates(
  policy: CompiledRuntimePolicy,
  bootAggregates: Record<string, readonly string[]> | null | undefined,
): readonly string[] | null {
  if (!bootAggregates || Object.keys(bootAggregates).length === 0) return null;
  const merged = [...(policy.digests.get('boot_aggregate') ?? [])];
  for (const values of Object.values(bootAggregates)) {
    for (const v of values) if (!merged.includes(v)) merged.push(v);
  }
  return merged;
}
