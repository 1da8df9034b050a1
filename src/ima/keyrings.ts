/**
 * The set of keyrings an attestation round verifies ima-sig signatures with: keys
 * learned from `ima-buf` entries in earlier rounds, the tenant keyring (policy
 * `verification-keys`, or the agent's `ima_sign_verification_keys`), then keys learned
 * in this round. A signature's keyid is looked up in that order; the first hit is used.
 */
import { ImaKeyring, type SerializedKeyring } from './keys.js';
import type { KeyObject } from 'node:crypto';

export type LearnedKeyrings = Record<string, SerializedKeyring>;

export class KeyringSet {
  private readonly learned = new Map<string, ImaKeyring>();
  private order: ImaKeyring[] = [];
  private readonly tenant: ImaKeyring | null;

  constructor(persisted: LearnedKeyrings, tenant: ImaKeyring | null) {
    for (const [name, ring] of Object.entries(persisted)) {
      if (ring && Array.isArray(ring.pubkeys) && Array.isArray(ring.keyids)) this.learned.set(name, ImaKeyring.fromJSON(ring));
    }
    this.tenant = tenant;
    this.order = [...this.learned.values()];
    if (tenant) this.order.push(tenant);
  }

  /** In lookup order. */
  rings(): readonly ImaKeyring[] {
    return this.order;
  }

  learn(keyringName: string, key: KeyObject, keyid: number | null): void {
    let ring = this.learned.get(keyringName);
    if (!ring) {
      ring = new ImaKeyring();
      this.learned.set(keyringName, ring);
      this.order = [...this.order, ring];
    }
    ring.add(key, keyid);
  }

  /** The learned keyrings as persisted state (the tenant keyring is not part of it). */
  toLearned(): LearnedKeyrings {
    const out: LearnedKeyrings = {};
    for (const [name, ring] of this.learned) out[name] = ring.toJSON();
    return out;
  }
}
