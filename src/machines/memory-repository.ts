/**
 * A MachineRepository over one plain, JSON-serialisable object. Tests use it directly;
 * the server can hand it lowdb's `db.data.machines` and persist with `db.write()` after
 * each mutating request, which keeps the adapter to a few lines.
 */
import { copyOptions, setOption } from './options.js';
import type {
  BindingRecord,
  MachineRepository,
  MachineResolverRecord,
  NewBindingRecord,
  NewMachineResolverRecord,
  NewTokenRecord,
  ResolverConfigEntry,
  TokenPatch,
  TokenRecord,
} from './types.js';

export interface MachineStoreData {
  tokens: TokenRecord[];
  resolvers: MachineResolverRecord[];
  bindings: BindingRecord[];
  /** Last id handed out per table; ids are never reused. */
  sequences: { token: number; resolver: number; binding: number };
}

export function emptyMachineStoreData(): MachineStoreData {
  return { tokens: [], resolvers: [], bindings: [], sequences: { token: 0, resolver: 0, binding: 0 } };
}

const cloneToken = (t: TokenRecord): TokenRecord => ({ ...t, info: { ...t.info }, secret: t.secret ? { ...t.secret } : null });
const cloneBinding = (b: BindingRecord): BindingRecord => ({ ...b, options: copyOptions(b.options) });
const cloneResolver = (r: MachineResolverRecord): MachineResolverRecord => ({ ...r, config: cloneConfig(r.config) });

function cloneConfig(config: Record<string, ResolverConfigEntry>): Record<string, ResolverConfigEntry> {
  const copy: Record<string, ResolverConfigEntry> = {};
  for (const [key, entry] of Object.entries(config)) setOption(copy, key, { ...entry });
  return copy;
}

export class MemoryMachineRepository implements MachineRepository {
  constructor(readonly data: MachineStoreData = emptyMachineStoreData()) {}

  findTokenBySerial(serial: string): TokenRecord | undefined {
    const token = this.data.tokens.find((t) => t.serial === serial);
    return token && cloneToken(token);
  }

  findTokenById(id: number): TokenRecord | undefined {
    const token = this.data.tokens.find((t) => t.id === id);
    return token && cloneToken(token);
  }

  listTokens(): TokenRecord[] {
    return this.data.tokens.map(cloneToken);
  }

  insertToken(token: NewTokenRecord): TokenRecord {
    const record = { ...cloneToken({ ...token, id: 0 }), id: ++this.data.sequences.token };
    this.data.tokens.push(record);
    return cloneToken(record);
  }

  updateToken(id: number, patch: TokenPatch): void {
    const token = this.data.tokens.find((t) => t.id === id);
    if (!token) return;
    if (patch.active !== undefined) token.active = patch.active;
    if (patch.count !== undefined) token.count = patch.count;
    for (const [key, value] of Object.entries(patch.info ?? {})) {
      if (value === null) delete token.info[key];
      else setOption(token.info, key, value);
    }
  }

  deleteToken(id: number): boolean {
    const before = this.data.tokens.length;
    this.data.tokens = this.data.tokens.filter((t) => t.id !== id);
    this.data.bindings = this.data.bindings.filter((b) => b.tokenId !== id);
    return this.data.tokens.length !== before;
  }

  listResolvers(): MachineResolverRecord[] {
    return this.data.resolvers.map(cloneResolver);
  }

  insertResolver(resolver: NewMachineResolverRecord): MachineResolverRecord {
    const record = { ...cloneResolver({ ...resolver, id: 0 }), id: ++this.data.sequences.resolver };
    this.data.resolvers.push(record);
    return cloneResolver(record);
  }

  replaceResolverConfig(id: number, config: Record<string, ResolverConfigEntry>): void {
    const resolver = this.data.resolvers.find((r) => r.id === id);
    if (resolver) resolver.config = cloneConfig(config);
  }

  deleteResolver(id: number): boolean {
    const before = this.data.resolvers.length;
    this.data.resolvers = this.data.resolvers.filter((r) => r.id !== id);
    return this.data.resolvers.length !== before;
  }

  listBindings(filter: { tokenId?: number } = {}): BindingRecord[] {
    return this.data.bindings.filter((b) => filter.tokenId === undefined || b.tokenId === filter.tokenId).map(cloneBinding);
  }

  findBinding(id: number): BindingRecord | undefined {
    const binding = this.data.bindings.find((b) => b.id === id);
    return binding && cloneBinding(binding);
  }

  insertBinding(binding: NewBindingRecord): BindingRecord {
    const record = { ...cloneBinding({ ...binding, id: 0 }), id: ++this.data.sequences.binding };
    this.data.bindings.push(record);
    return cloneBinding(record);
  }

  deleteBinding(id: number): boolean {
    const before = this.data.bindings.length;
    this.data.bindings = this.data.bindings.filter((b) => b.id !== id);
    return this.data.bindings.length !== before;
  }

  setBindingOption(id: number, key: string, value: string): boolean {
    const binding = this.data.bindings.find((b) => b.id === id);
    if (!binding) return false;
    setOption(binding.options, key, value);
    return true;
  }

  deleteBindingOption(id: number, key: string): boolean {
    const binding = this.data.bindings.find((b) => b.id === id);
    if (!binding || !Object.hasOwn(binding.options, key)) return false;
    delete binding.options[key];
    return true;
  }
}
