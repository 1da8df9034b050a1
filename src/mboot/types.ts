import type { DevicePath } from './devicePath.js';

/** A PCR bank named as tpm2-tools names it; other algorithm ids keep `alg_0x<id>`. */
export type BankName = 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sm3_256' | `alg_0x${string}`;

export interface AlgorithmSize {
  algorithmId: number;
  name: BankName;
  digestSize: number;
}

/** TCG_EfiSpecIdEvent, the data of the SHA-1 format header record of a crypto-agile log. */
export interface SpecIdEvent {
  signature: string;
  platformClass: number;
  specVersionMinor: number;
  specVersionMajor: number;
  specErrata: number;
  uintnSize: number;
  algorithms: AlgorithmSize[];
  vendorInfo: Buffer;
}

export interface EventDigest {
  algorithmId: number;
  alg: BankName;
  digest: Buffer;
}

/** EFI_SIGNATURE_DATA: an owner GUID and the signature bytes (a DER certificate, a SHA-256 hash...). */
export interface SignatureData {
  owner: string;
  data: Buffer;
}

/** EFI_SIGNATURE_LIST; `signatures` has (listSize - 28 - headerSize) / signatureSize entries. */
export interface SignatureList {
  signatureType: string;
  listSize: number;
  headerSize: number;
  signatureSize: number;
  header: Buffer;
  signatures: SignatureData[];
}

/** EFI_LOAD_OPTION, the value of Boot#### variables. */
export interface LoadOption {
  attributes: number;
  enabled: boolean;
  filePathListLength: number;
  description: string;
  devicePath: DevicePath;
  devicePathBytes: Buffer;
  optionalData: Buffer;
}

/** The interpreted VariableData of an EV_EFI_VARIABLE_* event. */
export type VariableValue =
  | { kind: 'signature_lists'; lists: SignatureList[] }
  | { kind: 'signatures'; signatures: SignatureData[] }
  | { kind: 'enabled'; enabled: boolean }
  | { kind: 'boot_order'; entries: number[] }
  | { kind: 'load_option'; option: LoadOption }
  | { kind: 'string'; text: string }
  | { kind: 'raw'; decodeError?: DecodeError };

/** UEFI_VARIABLE_DATA. */
export interface EfiVariable {
  guid: string;
  nameLength: number;
  dataLength: number;
  name: string;
  data: Buffer;
  value: VariableValue;
}

/** UEFI_IMAGE_LOAD_EVENT. */
export interface ImageLoad {
  imageLocationInMemory: bigint;
  imageLengthInMemory: bigint;
  imageLinkTimeAddress: bigint;
  lengthOfDevicePath: number;
  devicePathBytes: Buffer;
  devicePath: DevicePath;
}

export interface GptHeader {
  signature: string;
  revision: number;
  headerSize: number;
  headerCrc32: number;
  myLba: bigint;
  alternateLba: bigint;
  firstUsableLba: bigint;
  lastUsableLba: bigint;
  diskGuid: string;
  partitionEntryLba: bigint;
  numberOfPartitionEntries: number;
  sizeOfPartitionEntry: number;
  partitionEntryArrayCrc32: number;
}

export interface GptPartition {
  partitionTypeGuid: string;
  uniquePartitionGuid: string;
  startingLba: bigint;
  endingLba: bigint;
  attributes: bigint;
  partitionName: string;
}

/** UEFI_GPT_DATA. */
export interface GptEvent {
  header: GptHeader;
  partitions: GptPartition[];
}

export interface HandoffTable {
  vendorGuid: string;
  vendorTable: bigint;
}

export interface TaggedEvent {
  id: number;
  data: Buffer;
}

/**
 * What an event's data says, by type. Content that does not decode as its type says is
 * kept `raw` with `decodeError`: the log still parses (framing is intact, the digests are
 * what the PCRs saw), and a policy that needs the content fails on that event.
 */
export type EventContent =
  | { kind: 'spec_id'; specId: SpecIdEvent }
  | { kind: 'startup_locality'; locality: number }
  | { kind: 'no_action'; signature: string }
  | { kind: 'separator'; value: number }
  | { kind: 'text'; text: string }
  | { kind: 'ipl'; text: string }
  | { kind: 'blob'; base: bigint; length: bigint; description?: string }
  | { kind: 'efi_variable'; variable: EfiVariable }
  | { kind: 'image_load'; image: ImageLoad }
  | { kind: 'gpt'; gpt: GptEvent }
  | { kind: 'handoff_tables'; description?: string; tables: HandoffTable[] }
  | { kind: 'event_tag'; tags: TaggedEvent[] }
  | { kind: 'raw'; decodeError?: DecodeError };

/** Why content was kept raw: the ParseError message and the absolute offset it names. */
export interface DecodeError {
  message: string;
  offset: number;
}

export interface LogEvent {
  /** Position in the log; 0 is the header record (tpm2_eventlog's EventNum). */
  num: number;
  /** Byte offset of the record in the log. */
  offset: number;
  pcrIndex: number;
  eventType: number;
  typeName: string;
  digests: EventDigest[];
  /** The event data, a view into the log buffer. */
  data: Buffer;
  dataOffset: number;
  content: EventContent;
}

export interface EventLog {
  /** crypto-agile (TCG_PCR_EVENT2 records) or a legacy SHA-1 log (TCG_PCR_EVENT records only). */
  format: 'crypto-agile' | 'sha1';
  specId: SpecIdEvent | null;
  algorithms: AlgorithmSize[];
  events: LogEvent[];
  size: number;
}
