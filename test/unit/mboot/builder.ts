/**
 * Writes TCG crypto-agile event logs from scratch, for tests: the SHA-1 format header
 * with the Spec ID Event03, then TCG_PCR_EVENT2 records. By default an event's digest is
 * the hash of its data in every bank; pass `digest` to set one (an Authenticode hash).
 * Independent of src/mboot on purpose: it is what the parser is checked against.
 */
import { createHash } from 'node:crypto';

export type Alg = 'sha1' | 'sha256' | 'sha384' | 'sha512';
const ALG_IDS: Record<Alg, number> = { sha1: 0x0004, sha256: 0x000b, sha384: 0x000c, sha512: 0x000d };
const SIZES: Record<Alg, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export const EV = {
  POST_CODE: 0x1, NO_ACTION: 0x3, SEPARATOR: 0x4, ACTION: 0x5, EVENT_TAG: 0x6, S_CRTM_CONTENTS: 0x7, S_CRTM_VERSION: 0x8,
  PLATFORM_CONFIG_FLAGS: 0xa, IPL: 0xd, NONHOST_INFO: 0x11,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001, EFI_VARIABLE_BOOT: 0x80000002, EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EFI_BOOT_SERVICES_DRIVER: 0x80000004, EFI_GPT_EVENT: 0x80000006, EFI_ACTION: 0x80000007, EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EFI_HANDOFF_TABLES: 0x80000009, EFI_VARIABLE_AUTHORITY: 0x800000e0,
} as const;

export const GUID = {
  global: '8be4df61-93ca-11d2-aa0d-00e098032b8c',
  imageSecurityDb: 'd719b2cb-3d3a-4596-a3bc-dad00e67656f',
  shimLock: '605dab50-e046-4300-abb6-3dd810dd8b23',
  certX509: 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072',
  certSha256: 'c1c41626-504c-4092-aca9-41f936934328',
  microsoft: '77fa9abd-0359-4d32-bd60-28f4e78f784b',
  fvVolume: '8fc151ae-c96f-4bc9-8c33-107992c7735b',
} as const;

export function hash(alg: Alg, data: Buffer): Buffer {
  return createHash(alg).update(data).digest();
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** EFI_GUID bytes: Data1-3 little-endian, Data4 as written. */
export function guid(text: string): Buffer {
  const h = text.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

export function ucs2(s: string): Buffer {
  return Buffer.from(s, 'utf16le');
}

export function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** UEFI_VARIABLE_DATA. */
export function efiVariable(guidText: string, name: string, data: Buffer): Buffer {
  return Buffer.concat([guid(guidText), u64(name.length), u64(data.length), ucs2(name), data]);
}

export interface Sig {
  owner: string;
  data: Buffer;
}

/** One EFI_SIGNATURE_LIST; every entry must have the same data size. */
export function signatureList(typeGuid: string, sigs: Sig[]): Buffer {
  const size = 16 + (sigs[0]?.data.length ?? 0);
  const body = Buffer.concat(sigs.map((s) => Buffer.concat([guid(s.owner), s.data])));
  return Buffer.concat([guid(typeGuid), u32(28 + body.length), u32(0), u32(size), body]);
}

export function node(type: number, subType: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, subType]), u16(4 + data.length), data]);
}

export const END = node(0x7f, 0xff, Buffer.alloc(0));

export function hdNode(partition: number, start: number, size: number, sigGuid: string): Buffer {
  return node(4, 1, Buffer.concat([u32(partition), u64(start), u64(size), guid(sigGuid), Buffer.from([2, 2])]));
}

export function fileNode(path: string): Buffer {
  return node(4, 4, ucs2(`${path}\0`));
}

/** UEFI_IMAGE_LOAD_EVENT. */
export function imageLoad(devicePath: Buffer): Buffer {
  return Buffer.concat([u64(0x7f000000), u64(123456), u64(0), u64(devicePath.length), devicePath]);
}

/** EFI_LOAD_OPTION. */
export function loadOption(description: string, devicePath: Buffer): Buffer {
  return Buffer.concat([u32(1), u16(devicePath.length), ucs2(`${description}\0`), devicePath]);
}

export function gptData(diskGuid: string, partitions: { type: string; unique: string; first: number; last: number; name: string }[]): Buffer {
  const header = Buffer.concat([
    ascii('EFI PART'), u32(0x10000), u32(92), u32(0x12345678), u32(0),
    u64(1), u64(0x773bd2af), u64(34), u64(0x773bd28e), guid(diskGuid), u64(2), u32(128), u32(128), u32(0x9abcdef0),
  ]);
  const entries = partitions.map((p) => {
    const name = Buffer.alloc(72);
    ucs2(p.name).copy(name);
    return Buffer.concat([guid(p.type), guid(p.unique), u64(p.first), u64(p.last), u64(0), name]);
  });
  return Buffer.concat([header, u64(partitions.length), ...entries]);
}

export interface BuiltEvent {
  pcr: number;
  type: number;
  data: Buffer;
  digests: Partial<Record<Alg, Buffer>>;
}

export class EventLogBuilder {
  readonly events: BuiltEvent[] = [];

  constructor(readonly algs: Alg[] = ['sha1', 'sha256']) {}

  /** Adds an event; `digest` sets the digest of a bank (others hash the data). */
  add(pcr: number, type: number, data: Buffer, digest?: Partial<Record<Alg, Buffer>>): this {
    const digests: Partial<Record<Alg, Buffer>> = {};
    for (const alg of this.algs) digests[alg] = digest?.[alg] ?? hash(alg, data);
    this.events.push({ pcr, type, data, digests });
    return this;
  }

  /** An EV_NO_ACTION record carries zero digests. */
  noAction(pcr: number, data: Buffer): this {
    const digests: Partial<Record<Alg, Buffer>> = {};
    for (const alg of this.algs) digests[alg] = Buffer.alloc(SIZES[alg]);
    this.events.push({ pcr, type: EV.NO_ACTION, data, digests });
    return this;
  }

  header(): Buffer {
    const algs = Buffer.concat(this.algs.map((a) => Buffer.concat([u16(ALG_IDS[a]), u16(SIZES[a])])));
    const specId = Buffer.concat([
      ascii('Spec ID Event03\0'), u32(0), Buffer.from([0, 2, 0, 2]), u32(this.algs.length), algs, Buffer.from([0]),
    ]);
    return Buffer.concat([u32(0), u32(EV.NO_ACTION), Buffer.alloc(20), u32(specId.length), specId]);
  }

  record(e: BuiltEvent): Buffer {
    const digests = this.algs.map((a) => Buffer.concat([u16(ALG_IDS[a]), e.digests[a]!]));
    return Buffer.concat([u32(e.pcr), u32(e.type), u32(this.algs.length), ...digests, u32(e.data.length), e.data]);
  }

  build(): Buffer {
    return Buffer.concat([this.header(), ...this.events.map((e) => this.record(e))]);
  }

  /** PCR values computed here, independently of src/mboot: zeros, no EV_NO_ACTION, PCR 0 from a locality. */
  expectedPcrs(alg: Alg, pcr0Locality = 0): Map<number, string> {
    const pcrs = new Map<number, Buffer>();
    if (pcr0Locality) {
      const seed = Buffer.alloc(SIZES[alg]);
      seed[SIZES[alg] - 1] = pcr0Locality;
      pcrs.set(0, seed);
    }
    for (const e of this.events) {
      if (e.type === EV.NO_ACTION) continue;
      const old = pcrs.get(e.pcr) ?? Buffer.alloc(SIZES[alg]);
      pcrs.set(e.pcr, hash(alg, Buffer.concat([old, e.digests[alg]!])));
    }
    return new Map([...pcrs].map(([k, v]) => [k, v.toString('hex')]));
  }
}

/** A digest standing for a PE image's Authenticode hash: any 32 bytes named by a label. */
export function authenticode(label: string): Buffer {
  return hash('sha256', ascii(`authenticode:${label}`));
}

export interface BootOptions {
  secureBoot?: boolean;
  shim?: string;
  grub?: string;
  kernel?: string;
  cmdline?: string;
  initrd?: Buffer;
  vmlinuz?: Buffer;
  /** Add a firmware-volume app (FvVol/FvFile) in PCR 4 before shim. */
  firmwareApp?: boolean;
  startupLocality?: number;
}

/** Fake certificates: DER-looking blobs (30 82 LL LL ...) with distinct content. */
export function fakeCert(label: string, size = 200): Buffer {
  const body = Buffer.alloc(size - 4, 0);
  ascii(label).copy(body);
  return Buffer.concat([Buffer.from([0x30, 0x82]), Buffer.from([(size - 4) >> 8, (size - 4) & 0xff]), body]);
}

export const KEYS = {
  pk: [{ owner: '3cc24e96-22c7-41d8-8863-8e39dcdcc2cf', data: fakeCert('PK') }],
  kek: [{ owner: GUID.microsoft, data: fakeCert('KEK-MS') }, { owner: '7facc7b6-127f-4e9c-9c5d-080f98994345', data: fakeCert('KEK-OEM') }],
  db: [{ owner: GUID.microsoft, data: fakeCert('db-MS-UEFI-CA') }, { owner: GUID.microsoft, data: fakeCert('db-MS-Windows') }],
  dbx: [0, 1, 2].map((i) => ({ owner: GUID.microsoft, data: hash('sha256', ascii(`revoked-${i}`)) })),
};

/**
 * A plausible secure-boot (or not) Linux boot: firmware, PCR 7 keys, boot variables,
 * shim with MokList, grub with its commands, the kernel, initrd and command line.
 */
export function linuxBoot(o: BootOptions = {}): EventLogBuilder {
  const sb = o.secureBoot ?? true;
  const b = new EventLogBuilder();
  if (o.startupLocality !== undefined) b.noAction(0, Buffer.concat([ascii('StartupLocality\0'), Buffer.from([o.startupLocality])]));
  b.add(0, EV.S_CRTM_VERSION, ucs2('1.23\0'));
  b.add(0, EV.EFI_PLATFORM_FIRMWARE_BLOB, Buffer.concat([u64(0xfff00000), u64(0x10000)]), { sha1: hash('sha1', ascii('fw1')), sha256: hash('sha256', ascii('fw1')) });
  b.add(0, EV.EFI_PLATFORM_FIRMWARE_BLOB, Buffer.concat([u64(0xffc00000), u64(0x20000)]), { sha1: hash('sha1', ascii('fw2')), sha256: hash('sha256', ascii('fw2')) });
  b.add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.global, 'SecureBoot', Buffer.from([sb ? 1 : 0])));
  b.add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.global, 'PK', signatureList(GUID.certX509, KEYS.pk)));
  b.add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.global, 'KEK', Buffer.concat(KEYS.kek.map((k) => signatureList(GUID.certX509, [k])))));
  b.add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.imageSecurityDb, 'db', Buffer.concat(KEYS.db.map((k) => signatureList(GUID.certX509, [k])))));
  b.add(7, EV.EFI_VARIABLE_DRIVER_CONFIG, efiVariable(GUID.imageSecurityDb, 'dbx', signatureList(GUID.certSha256, KEYS.dbx)));
  b.add(7, EV.SEPARATOR, u32(0));
  b.add(2, EV.EFI_BOOT_SERVICES_DRIVER, imageLoad(Buffer.concat([node(1, 1, Buffer.from([0, 2])), END])));
  const shimPath = Buffer.concat([hdNode(1, 0x800, 0x100000, '11111111-2222-3333-4444-555555555555'), fileNode('\\EFI\\fedora\\shimx64.efi'), END]);
  b.add(1, EV.EFI_VARIABLE_BOOT, efiVariable(GUID.global, 'BootOrder', Buffer.concat([u16(0), u16(0x1f)])));
  b.add(1, EV.EFI_VARIABLE_BOOT, efiVariable(GUID.global, 'Boot0000', loadOption('Fedora', shimPath)));
  b.add(1, EV.PLATFORM_CONFIG_FLAGS, ascii('FeatureX=1'));
  b.add(1, EV.EFI_HANDOFF_TABLES, Buffer.concat([u64(1), guid('eb9d2d31-2d88-11d3-9a16-0090273fc14d'), u64(0x8f000000)]));
  b.add(4, EV.EFI_ACTION, ascii('Calling EFI Application from Boot Option'));
  for (let pcr = 0; pcr <= 6; pcr++) b.add(pcr, EV.SEPARATOR, u32(0));
  b.add(5, EV.EFI_GPT_EVENT, gptData('79ac79fb-f286-4728-8e0d-68114f67364a', [
    { type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', unique: '11111111-2222-3333-4444-555555555555', first: 0x800, last: 0x807ff, name: 'EFI System Partition' },
    { type: '0fc63daf-8483-4772-8e79-3d69d8477de4', unique: '7452f29b-9375-4f2c-b5d4-83953209b089', first: 0x80800, last: 0x2807ff, name: '' },
  ]));
  if (o.firmwareApp) {
    const fv = Buffer.concat([node(4, 7, guid(GUID.fvVolume)), node(4, 6, guid('821aca26-29ea-4993-839f-597fc021708d')), END]);
    b.add(4, EV.EFI_BOOT_SERVICES_APPLICATION, imageLoad(fv), { sha256: authenticode('boot-menu'), sha1: hash('sha1', ascii('boot-menu')) });
  }
  b.add(4, EV.EFI_BOOT_SERVICES_APPLICATION, imageLoad(shimPath), { sha256: authenticode(o.shim ?? 'shim-15.8') });
  b.add(14, EV.IPL, ascii('MokList\0'));
  b.add(14, EV.IPL, ascii('MokListX\0'));
  b.add(7, EV.EFI_VARIABLE_AUTHORITY, efiVariable(GUID.imageSecurityDb, 'db', Buffer.concat([guid(KEYS.db[0]!.owner), KEYS.db[0]!.data])));
  b.add(7, EV.EFI_VARIABLE_AUTHORITY, efiVariable(GUID.shimLock, 'SbatLevel', ascii('sbat,1,2021030218\n')));
  b.add(14, EV.IPL, ascii('MokListTrusted\0'));
  b.add(4, EV.EFI_BOOT_SERVICES_APPLICATION, imageLoad(Buffer.concat([fileNode('\\EFI\\fedora\\grubx64.efi'), END])), { sha256: authenticode(o.grub ?? 'grub-2.12') });
  b.add(9, EV.IPL, ascii('(hd0,gpt1)/EFI/fedora/grub.cfg\0'));
  b.add(8, EV.IPL, ascii('grub_cmd: set pager=1\0'));
  b.add(8, EV.IPL, ascii('grub_cmd: menuentry Fedora {\n\tlinux /vmlinuz\n}\0'));
  b.add(9, EV.IPL, ascii('(hd0,gpt2)/loader/entries/fedora-6.11.conf\0'));
  b.add(8, EV.IPL, ascii('grub_cmd: linux (hd0,gpt2)/vmlinuz-6.11.5 root=UUID=7d3f ro rhgb quiet\0'));
  b.add(9, EV.IPL, ascii('(hd0,gpt2)/vmlinuz-6.11.5\0'), o.vmlinuz ? { sha256: o.vmlinuz } : undefined);
  b.add(8, EV.IPL, ascii(`kernel_cmdline: ${o.cmdline ?? '(hd0,gpt2)/vmlinuz-6.11.5 root=UUID=7d3f ro rhgb quiet'}\0`));
  b.add(8, EV.IPL, ascii('grub_cmd: initrd (hd0,gpt2)/initramfs-6.11.5.img\0'));
  b.add(9, EV.IPL, ascii('(hd0,gpt2)/initramfs-6.11.5.img\0'), o.initrd ? { sha256: o.initrd } : undefined);
  if (sb) {
    b.add(4, EV.EFI_BOOT_SERVICES_APPLICATION, imageLoad(Buffer.concat([fileNode('\\vmlinuz-6.11.5'), END])), { sha256: authenticode(o.kernel ?? 'kernel-6.11.5') });
  }
  b.add(5, EV.EFI_ACTION, ascii('Exit Boot Services Invocation'));
  b.add(5, EV.EFI_ACTION, ascii('Exit Boot Services Returned with Success'));
  return b;
}
