import { formatGuid } from './guid.js';
import type { ByteReader } from './reader.js';
import type { GptEvent, GptHeader, GptPartition } from './types.js';

const HEADER_SIZE = 92;
const MIN_ENTRY_SIZE = 128;

/** UEFI_GPT_DATA: the 92-byte partition table header, a u64 count, then the entries. */
export function decodeGpt(r: ByteReader): GptEvent {
  const h = r.sub(HEADER_SIZE, 'GPT header');
  const signature = h.bytes(8, 'Signature').toString('latin1');
  const revision = h.u32('Revision');
  const headerSize = h.u32('HeaderSize');
  const headerCrc32 = h.u32('HeaderCRC32');
  h.u32('Reserved');
  const header: GptHeader = {
    signature,
    revision,
    headerSize,
    headerCrc32,
    myLba: h.u64('MyLBA'),
    alternateLba: h.u64('AlternateLBA'),
    firstUsableLba: h.u64('FirstUsableLBA'),
    lastUsableLba: h.u64('LastUsableLBA'),
    diskGuid: formatGuid(h.bytes(16, 'DiskGUID')),
    partitionEntryLba: h.u64('PartitionEntryLBA'),
    numberOfPartitionEntries: h.u32('NumberOfPartitionEntries'),
    sizeOfPartitionEntry: h.u32('SizeOfPartitionEntry'),
    partitionEntryArrayCrc32: h.u32('PartitionEntryArrayCRC32'),
  };
  const entrySize = header.sizeOfPartitionEntry;
  if (entrySize < MIN_ENTRY_SIZE) r.fail(`SizeOfPartitionEntry ${entrySize} is below ${MIN_ENTRY_SIZE}`);
  const countAt = r.pos;
  const count = r.u64('NumberOfPartitions');
  if (count * BigInt(entrySize) > BigInt(r.remaining)) {
    r.fail(`${count} partitions of ${entrySize} bytes do not fit in ${r.remaining} bytes`, countAt);
  }
  const partitions: GptPartition[] = [];
  for (let i = 0; i < Number(count); i++) {
    const e = r.sub(entrySize, `partition entry ${i}`);
    partitions.push({
      partitionTypeGuid: formatGuid(e.bytes(16, 'PartitionTypeGUID')),
      uniquePartitionGuid: formatGuid(e.bytes(16, 'UniquePartitionGUID')),
      startingLba: e.u64('StartingLBA'),
      endingLba: e.u64('EndingLBA'),
      attributes: e.u64('Attributes'),
      partitionName: cutAtNul(e.bytes(72, 'PartitionName').toString('utf16le')),
    });
  }
  return { header, partitions };
}

function cutAtNul(s: string): string {
  const i = s.indexOf('\0');
  return i === -1 ? s : s.slice(0, i);
}
