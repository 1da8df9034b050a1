import { formatGuid } from './guid.js';

/**
 * UEFI device paths (UEFI spec §10.3) rendered in the text form libefivar prints, which
 * is what Keylime's event log enrichment puts into `DevicePath`, e.g.
 * `PciRoot(0x0)/Pci(0x1d,0x0)/NVMe(0x1,…)/HD(1,GPT,<guid>,0x800,0x12c000)/File(\EFI\fedora\shimx64.efi)`.
 */
export interface DevicePathNode {
  type: number;
  subType: number;
  /** The node's data after its 4-byte header. */
  data: Buffer;
}

export interface DevicePath {
  nodes: DevicePathNode[];
  /** The text form; null when the bytes are not a well-formed node list (callers keep the hex). */
  text: string | null;
}

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

/** Splits a device path into nodes; null if a node length is impossible or overruns. */
export function splitDevicePath(bytes: Buffer): DevicePathNode[] | null {
  const nodes: DevicePathNode[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < 4) return null;
    const type = bytes[pos]!;
    const subType = bytes[pos + 1]!;
    const length = bytes.readUInt16LE(pos + 2);
    if (length < 4 || pos + length > bytes.length) return null;
    nodes.push({ type, subType, data: bytes.subarray(pos + 4, pos + length) });
    pos += length;
    if (type === 0x7f && subType === 0xff) break;
  }
  return nodes;
}

export function decodeDevicePath(bytes: Buffer): DevicePath {
  const nodes = splitDevicePath(bytes);
  if (!nodes) return { nodes: [], text: null };
  let text = '';
  for (const node of nodes) {
    if (node.type === 0x7f) {
      if (node.subType === 0x01) text += ',';
      continue;
    }
    const piece = formatNode(node);
    text += text === '' || text.endsWith(',') ? piece : `/${piece}`;
  }
  return { nodes, text };
}

/** True for firmware-volume apps (FvVol(guid)/FvFile(guid)), which the refstate generator skips. */
export function isFirmwareVolumeApp(nodes: DevicePathNode[]): boolean {
  return (
    nodes.length >= 2 &&
    nodes[0]!.type === 0x04 && nodes[0]!.subType === 0x07 &&
    nodes[1]!.type === 0x04 && nodes[1]!.subType === 0x06
  );
}

function generic(node: DevicePathNode): string {
  const data = node.data.length ? `,${node.data.toString('hex')}` : '';
  return `Path(${node.type},${node.subType}${data})`;
}

/** Each formatter checks the node length it needs; a short node falls back to Path(...). */
function formatNode(node: DevicePathNode): string {
  try {
    return formatters[node.type]?.[node.subType]?.(node.data) ?? generic(node);
  } catch {
    return generic(node);
  }
}

function need(data: Buffer, n: number): void {
  if (data.length < n) throw new RangeError('short device path node');
}

function ucs2z(data: Buffer): string {
  const even = data.subarray(0, data.length - (data.length % 2));
  const s = even.toString('utf16le');
  const nul = s.indexOf('\0');
  return nul === -1 ? s : s.slice(0, nul);
}

function vendor(prefix: string, data: Buffer): string {
  need(data, 16);
  const extra = data.subarray(16);
  return `${prefix}(${formatGuid(data)}${extra.length ? `,${extra.toString('hex')}` : ''})`;
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(at + i).toString(16));
  return groups.join(':');
}

function acpiName(hid: number): string {
  // EISA compressed id: three 5-bit letters in the low 16 bits, product number above.
  const v = hid & 0xffff;
  const c = (x: number) => String.fromCharCode(0x40 + (x & 0x1f));
  const letters = c(v >> 10) + c(v >> 5) + c(v);
  return `${letters}${(hid >>> 16).toString(16).toUpperCase().padStart(4, '0')}`;
}

type Formatter = (d: Buffer) => string;

const formatters: Record<number, Record<number, Formatter>> = {
  // Hardware
  0x01: {
    0x01: (d) => (need(d, 2), `Pci(${hex(d[1]!)},${hex(d[0]!)})`),
    0x02: (d) => (need(d, 1), `PcCard(${hex(d[0]!)})`),
    0x03: (d) => (need(d, 20), `MemoryMapped(${hex(d.readUInt32LE(0))},${hex(d.readBigUInt64LE(4))},${hex(d.readBigUInt64LE(12))})`),
    0x04: (d) => vendor('VenHw', d),
    0x05: (d) => (need(d, 4), `Ctrl(${hex(d.readUInt32LE(0))})`),
    0x06: (d) => (need(d, 9), `BMC(${hex(d[0]!)},${hex(d.readBigUInt64LE(1))})`),
  },
  // ACPI
  0x02: {
    0x01: (d) => {
      need(d, 8);
      const hid = d.readUInt32LE(0);
      const uid = d.readUInt32LE(4);
      if (hid === 0x0a0341d0) return `PciRoot(${hex(uid)})`;
      if (hid === 0x0a0841d0) return `PcieRoot(${hex(uid)})`;
      return `Acpi(${acpiName(hid)},${hex(uid)})`;
    },
    0x02: (d) => {
      need(d, 12);
      const strings = d.subarray(12).toString('latin1').split('\0');
      return `AcpiEx(${acpiName(d.readUInt32LE(0))},${acpiName(d.readUInt32LE(8))},${hex(d.readUInt32LE(4))},${strings.slice(0, 3).join(',')})`;
    },
    0x03: (d) => {
      need(d, 4);
      const adrs: string[] = [];
      for (let i = 0; i + 4 <= d.length; i += 4) adrs.push(hex(d.readUInt32LE(i)));
      return `AcpiAdr(${adrs.join(',')})`;
    },
  },
  // Messaging
  0x03: {
    0x01: (d) => (need(d, 4), `Ata(${d[0] ? 'Secondary' : 'Primary'},${d[1] ? 'Slave' : 'Master'},${hex(d.readUInt16LE(2))})`),
    0x02: (d) => (need(d, 4), `Scsi(${hex(d.readUInt16LE(0))},${hex(d.readUInt16LE(2))})`),
    0x03: (d) => (need(d, 20), `Fibre(${hex(d.readBigUInt64LE(4))},${hex(d.readBigUInt64LE(12))})`),
    0x05: (d) => (need(d, 2), `USB(${hex(d[0]!)},${hex(d[1]!)})`),
    0x08: (d) => (need(d, 4), `I2O(${hex(d.readUInt32LE(0))})`),
    0x0a: (d) => vendor('VenMsg', d),
    0x0b: (d) => {
      need(d, 33);
      const ifType = d[32]!;
      const len = ifType === 0 || ifType === 1 ? 6 : 32;
      return `MAC(${d.subarray(0, len).toString('hex')},${hex(ifType)})`;
    },
    0x0c: (d) => {
      need(d, 15);
      const local = ipv4(d, 0);
      const remote = ipv4(d, 4);
      const protocol = d.readUInt16LE(12);
      const dhcp = d[14] === 0;
      const extra = d.length >= 23 ? `,${ipv4(d, 15)},${ipv4(d, 19)}` : '';
      return `IPv4(${remote},${protocol === 6 ? 'TCP' : protocol === 17 ? 'UDP' : hex(protocol)},${dhcp ? 'DHCP' : 'Static'},${local}${extra})`;
    },
    0x0d: (d) => {
      need(d, 38);
      const protocol = d.readUInt16LE(36);
      return `IPv6(${ipv6(d, 16)},${protocol === 6 ? 'TCP' : protocol === 17 ? 'UDP' : hex(protocol)},${ipv6(d, 0)})`;
    },
    0x0f: (d) => (need(d, 7), `UsbClass(${hex(d.readUInt16LE(0))},${hex(d.readUInt16LE(2))},${hex(d[4]!)},${hex(d[5]!)},${hex(d[6]!)})`),
    0x10: (d) => (need(d, 6), `UsbWwid(${hex(d.readUInt16LE(2))},${hex(d.readUInt16LE(4))},${hex(d.readUInt16LE(0))},"${ucs2z(d.subarray(6))}")`),
    0x12: (d) => (need(d, 6), `Sata(${hex(d.readUInt16LE(0))},${hex(d.readUInt16LE(2))},${hex(d.readUInt16LE(4))})`),
    0x17: (d) => {
      need(d, 12);
      const eui = [...d.subarray(4, 12)].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('-');
      return `NVMe(${hex(d.readUInt32LE(0))},${eui})`;
    },
    0x18: (d) => `Uri(${d.toString('latin1')})`,
    0x1a: (d) => (need(d, 1), `SD(${hex(d[0]!)})`),
    0x1d: (d) => (need(d, 1), `eMMC(${hex(d[0]!)})`),
  },
  // Media
  0x04: {
    0x01: (d) => {
      need(d, 38);
      const part = d.readUInt32LE(0);
      const start = d.readBigUInt64LE(4);
      const size = d.readBigUInt64LE(12);
      const sig = d.subarray(20, 36);
      const format = d[36]!;
      const sigType = d[37]!;
      const fmt = format === 1 ? 'MBR' : format === 2 ? 'GPT' : hex(format);
      const signature = sigType === 2 ? formatGuid(sig) : sigType === 1 ? hex(sig.readUInt32LE(0)) : '0';
      return `HD(${part},${fmt},${signature},${hex(start)},${hex(size)})`;
    },
    0x02: (d) => (need(d, 20), `CDROM(${hex(d.readUInt32LE(0))},${hex(d.readBigUInt64LE(4))},${hex(d.readBigUInt64LE(12))})`),
    0x03: (d) => vendor('VenMedia', d),
    0x04: (d) => `File(${ucs2z(d)})`,
    0x05: (d) => (need(d, 16), `Media(${formatGuid(d)})`),
    0x06: (d) => (need(d, 16), `FvFile(${formatGuid(d)})`),
    0x07: (d) => (need(d, 16), `FvVol(${formatGuid(d)})`),
    0x08: (d) => (need(d, 20), `Offset(${hex(d.readBigUInt64LE(4))},${hex(d.readBigUInt64LE(12))})`),
    0x09: (d) => (need(d, 34), `RamDisk(${hex(d.readBigUInt64LE(0))},${hex(d.readBigUInt64LE(8))},${formatGuid(d, 16)},${hex(d.readUInt16LE(32))})`),
  },
  // BIOS boot specification
  0x05: {
    0x01: (d) => (need(d, 4), `BBS(${hex(d.readUInt16LE(0))},${d.subarray(4).toString('latin1').replace(/\0.*$/s, '')},${hex(d.readUInt16LE(2))})`),
  },
};
