/**
 * Persistence of the machine-token subsystem: <data-dir>/machines.json (tokens, machine
 * resolvers, bindings and their options) through the atomic JsonStore, and the sealing
 * key in <data-dir>/machines.key. The repository is privacyIDEA's data model in memory;
 * every change bumps a generation so a request knows whether it must wait for a write.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KeylimeError } from '../../errors.js';
import {
  MemoryMachineRepository,
  emptyMachineStoreData,
  type MachineStoreData,
  type NewBindingRecord,
  type NewMachineResolverRecord,
  type NewTokenRecord,
  type ResolverConfigEntry,
  type TokenPatch,
} from '../../machines/index.js';
import { JsonStore } from '../../store/json-file.js';
import { loadOrCreateSecretKey } from './secret-key.js';

export const MACHINE_STORE_FILE = 'machines.json';
export const MACHINE_KEY_FILE = 'machines.key';
/** The resolver every new store starts with: its machines are the verifier's agents. */
export const KEYLIME_RESOLVER_NAME = 'keylime';

export interface MachineStoreFile extends MachineStoreData {
  format: 1;
}

/** MemoryMachineRepository that counts its changes. */
export class CountingRepository extends MemoryMachineRepository {
  generation = 0;

  override insertToken(token: NewTokenRecord) {
    this.generation++;
    return super.insertToken(token);
  }
  override updateToken(id: number, patch: TokenPatch) {
    this.generation++;
    super.updateToken(id, patch);
  }
  override deleteToken(id: number) {
    this.generation++;
    return super.deleteToken(id);
  }
  override insertResolver(resolver: NewMachineResolverRecord) {
    this.generation++;
    return super.insertResolver(resolver);
  }
  override replaceResolverConfig(id: number, config: Record<string, ResolverConfigEntry>) {
    this.generation++;
    super.replaceResolverConfig(id, config);
  }
  override deleteResolver(id: number) {
    this.generation++;
    return super.deleteResolver(id);
  }
  override insertBinding(binding: NewBindingRecord) {
    this.generation++;
    return super.insertBinding(binding);
  }
  override deleteBinding(id: number) {
    this.generation++;
    return super.deleteBinding(id);
  }
  override setBindingOption(id: number, key: string, value: string) {
    this.generation++;
    return super.setBindingOption(id, key, value);
  }
  override deleteBindingOption(id: number, key: string) {
    this.generation++;
    return super.deleteBindingOption(id, key);
  }
}

export interface OpenMachineStoreOptions {
  randomBytes?: (size: number) => Buffer;
}

export class MachineStore {
  private constructor(
    private readonly file: JsonStore<MachineStoreFile>,
    readonly repo: CountingRepository,
    /** 32-byte AES-256-GCM key sealing token secrets and resolver passwords. */
    readonly secretKey: Buffer,
    readonly paths: { store: string; key: string },
    /** The key file's mode when it is readable by others (a warning for the log). */
    readonly looseKeyMode: number | undefined,
  ) {}

  static async open(dataDir: string, options: OpenMachineStoreOptions = {}): Promise<MachineStore> {
    const storePath = join(dataDir, MACHINE_STORE_FILE);
    const keyPath = join(dataDir, MACHINE_KEY_FILE);
    const fresh = !existsSync(storePath);
    const file = await JsonStore.open<MachineStoreFile>(storePath, { format: 1, ...emptyMachineStoreData() });
    checkShape(file.data, storePath);
    if (!fresh && !existsSync(keyPath) && holdsSealedValues(file.data)) {
      // A new key would make every stored secret unreadable: refuse rather than lose them.
      throw new KeylimeError('not_found', `${keyPath} is missing but ${storePath} holds sealed token secrets; restore the key file from a backup`);
    }
    const key = await loadOrCreateSecretKey(keyPath, options.randomBytes);
    const repo = new CountingRepository(file.data);
    const store = new MachineStore(file, repo, key.key, { store: storePath, key: keyPath }, key.looseMode);
    if (fresh) {
      repo.insertResolver({ name: KEYLIME_RESOLVER_NAME, type: 'keylime', config: {} });
      await store.persistChangesSince(0);
    }
    return store;
  }

  get generation(): number {
    return this.repo.generation;
  }

  /** Writes the store if anything changed since `generation`; resolves once it is on disk. */
  async persistChangesSince(generation: number): Promise<void> {
    if (this.repo.generation !== generation) await this.file.update(() => undefined);
  }

  /** Waits for writes in flight. */
  async close(): Promise<void> {
    await this.file.flush();
  }
}

export function openMachineStore(dataDir: string, options: OpenMachineStoreOptions = {}): Promise<MachineStore> {
  return MachineStore.open(dataDir, options);
}

function holdsSealedValues(data: MachineStoreData): boolean {
  return data.tokens.some((t) => t.secret !== null) || data.resolvers.some((r) => Object.values(r.config).some((e) => e.type === 'password'));
}

function checkShape(data: unknown, path: string): asserts data is MachineStoreFile {
  const d = data as Partial<MachineStoreFile> | null;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    Array.isArray(d.tokens) &&
    Array.isArray(d.resolvers) &&
    Array.isArray(d.bindings) &&
    d.sequences !== null &&
    typeof d.sequences === 'object' &&
    ['token', 'resolver', 'binding'].every((k) => Number.isInteger((d.sequences as Record<string, unknown>)[k]));
  if (!ok) throw new KeylimeError('internal', `${path} is not a keylime-ts machine store; move it away or restore it from a backup`);
}
