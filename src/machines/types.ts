/**
 * Data model of privacyIDEA-compatible machine tokens (spec privacyidea-machines.md §3, §5)
 * and the small interfaces through which this pure module reaches the outside world:
 * a repository for records, a directory that lists a resolver's machines, and an
 * attestation gate. The server implements them (lowdb, files, the verifier); tests use
 * MemoryMachineRepository.
 */
import type { SealedSecret } from './secret-box.js';

export type Awaitable<T> = T | Promise<T>;

/** A value as it arrives in a request: strings from query/form, any JSON type from a JSON body. */
export type ParamValue = string | number | boolean | null | ParamValue[] | { [key: string]: ParamValue };

/** The merged request parameters (§1.2). A Map, so keys such as `__proto__` stay ordinary keys. */
export type Params = ReadonlyMap<string, ParamValue>;

/** String options of a binding (`machinetokenoptions`): keys unique per binding, values strings. */
export type OptionMap = Record<string, string>;

export type OtpHashName = 'sha1' | 'sha256' | 'sha512';

export interface TokenRecord {
  id: number;
  /** Unique, exact-match serial (≤ 40 characters). */
  serial: string;
  /** Lowercase privacyIDEA token type: sshkey, hotp, totp, spass, webauthn, passkey. */
  tokentype: string;
  active: boolean;
  /** Login name of the owner; gives `username`/`user` in ssh and offline items. */
  owner: string | null;
  description: string;
  /** OTP length (default 6). */
  otplen: number;
  /** HOTP counter (default 0); advanced by offline items. */
  count: number;
  /** HOTP check window (default 10). */
  countWindow: number;
  /** The HMAC key, AES-256-GCM sealed under the server's token key; null for sshkey/spass. */
  secret: SealedSecret | null;
  /**
   * Token info: `hashlib`, `timeStep` (totp), `ssh_type`, `ssh_key`, `ssh_comment`,
   * `refilltoken`, `offline_counter`. Values are strings, as in privacyIDEA's tokeninfo table.
   */
  info: Record<string, string>;
}

export type NewTokenRecord = Omit<TokenRecord, 'id'>;

export interface TokenPatch {
  active?: boolean;
  count?: number;
  /** Keys to set; a value of null deletes the key. */
  info?: Record<string, string | null>;
}

export type ResolverType = 'hosts' | 'ldap' | 'keylime';

export interface ResolverConfigEntry {
  value: string;
  /** "string", "password", "int", "bool" or "". Password values are stored sealed (JSON text). */
  type: string;
  description: string;
}

export interface MachineResolverRecord {
  id: number;
  /** Unique, matches ^[A-Za-z0-9_\-.]+$ (so it never contains a space). */
  name: string;
  type: ResolverType;
  config: Record<string, ResolverConfigEntry>;
}

export type NewMachineResolverRecord = Omit<MachineResolverRecord, 'id'>;

/** A `machinetoken` row with its options. No uniqueness: duplicates are allowed (§3.1). */
export interface BindingRecord {
  id: number;
  tokenId: number;
  /** Null for unbound rows, and for rows attached with an unknown resolver name. No foreign key. */
  resolverId: number | null;
  /** Null for unbound rows. */
  machineId: string | null;
  application: string;
  options: OptionMap;
}

export type NewBindingRecord = Omit<BindingRecord, 'id'>;

/**
 * Persistence the server provides. Lists come back in creation (id) order, which is the
 * "database order" privacyIDEA shows. Records handed out are snapshots: change them
 * only through these methods.
 */
export interface MachineRepository {
  findTokenBySerial(serial: string): Awaitable<TokenRecord | undefined>;
  findTokenById(id: number): Awaitable<TokenRecord | undefined>;
  listTokens(): Awaitable<TokenRecord[]>;
  insertToken(token: NewTokenRecord): Awaitable<TokenRecord>;
  updateToken(id: number, patch: TokenPatch): Awaitable<void>;
  /** Deletes the token and, cascading, all its bindings (§3.5). */
  deleteToken(id: number): Awaitable<boolean>;

  listResolvers(): Awaitable<MachineResolverRecord[]>;
  insertResolver(resolver: NewMachineResolverRecord): Awaitable<MachineResolverRecord>;
  replaceResolverConfig(id: number, config: Record<string, ResolverConfigEntry>): Awaitable<void>;
  /** Deletes only the resolver: its bindings keep their dangling resolverId (§3.5). */
  deleteResolver(id: number): Awaitable<boolean>;

  /** All bindings, or those of one token, in id order. */
  listBindings(filter?: { tokenId?: number }): Awaitable<BindingRecord[]>;
  findBinding(id: number): Awaitable<BindingRecord | undefined>;
  insertBinding(binding: NewBindingRecord): Awaitable<BindingRecord>;
  /** Deletes the binding and its options. */
  deleteBinding(id: number): Awaitable<boolean>;
  /** Upserts one option; false when the binding does not exist. */
  setBindingOption(id: number, key: string, value: string): Awaitable<boolean>;
  /** False when the binding or the key does not exist. */
  deleteBindingOption(id: number, key: string): Awaitable<boolean>;
}

/** One machine as a resolver knows it (§2.1 value, before the resolver name is added). */
export interface MachineEntry {
  /** Resolver-specific id: the literal first column of a hosts line, an agent UUID. */
  id: string;
  hostnames: string[];
  /** Normalised IP text, or null when the source has none or an invalid one. */
  ip: string | null;
}

/** Lists the machines of one resolver. Hosts files are re-read on every call (§3.3). */
export interface MachineDirectory {
  machinesOf(resolver: MachineResolverRecord): Awaitable<MachineEntry[]>;
}

/** What the `keylime` resolver needs from the verifier: its agents. */
export interface KeylimeAgentSummary {
  /** Agent UUID: becomes the machine id. */
  agentId: string;
  /** The agent's contact IP. */
  ip?: string | null;
  /** Hostname known from registration, if any. */
  hostname?: string | null;
  /** The verifier's per-agent metadata (a JSON string or object); `hostname`/`hostnames` keys are used. */
  metadata?: unknown;
}

export interface KeylimeAgentDirectory {
  listAgents(): Awaitable<KeylimeAgentSummary[]>;
}

export type AttestationVerdict = { ok: true } | { ok: false; eventId: string; status: string | number };

export interface GatedMachine {
  machineId: string;
  resolverName: string;
  resolverType: ResolverType;
  hostname: string;
}

/**
 * Decides whether a machine currently passes attestation. The verifier answers from its
 * agent state (e.g. failed with event `pcr_validation.invalid_pcr_16`).
 */
export type AttestationGate = (machineId: string, machine: GatedMachine) => Awaitable<AttestationVerdict>;

/** Everything an endpoint function needs. Time and randomness are injectable for tests. */
export interface MachineContext {
  repo: MachineRepository;
  machines: MachineDirectory;
  /** 32-byte AES-256 key that seals token secrets at rest. */
  secretKey: Buffer;
  randomBytes?: (size: number) => Buffer;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** privacyIDEA's PrependPin system setting (default true). */
  prependPin?: boolean;
  /** When set, /machine/authitem answers only for machines that pass attestation. */
  attestationGate?: AttestationGate;
  /** Bounds on offline refill work, so one request cannot hang the server. */
  offlineLimits?: { maxCount?: number; maxRounds?: number };
  /** privacyIDEA's hide_specific_error_message_for_offline_refill policy. */
  hideOfflineRefillErrors?: boolean;
  /** Configured SSH service ids, listed by GET /application/. */
  serviceIds?: readonly string[];
}

export const ANY_MACHINE = 'any machine';
export const NO_RESOLVER = 'no resolver';
export const ANY_HOST = 'any host';
export const UNKNOWN_HOST = 'unknown';
