import { ParseError } from '../errors.js';
import { decodeEventContent } from './eventContent.js';
import { EventType, eventTypeName } from './eventTypes.js';
import { ByteReader } from './reader.js';
import type { AlgorithmSize, BankName, EventDigest, EventLog, LogEvent, SpecIdEvent } from './types.js';

/** TPM_ALG_ID → tpm2-tools' bank name and the digest size the algorithm fixes. */
const KNOWN_ALGORITHMS = new Map<number, { name: BankName; size: number }>([
  [0x0004, { name: 'sha1', size: 20 }],
  [0x000b, { name: 'sha256', size: 32 }],
  [0x000c, { name: 'sha384', size: 48 }],
  [0x000d, { name: 'sha512', size: 64 }],
  [0x0012, { name: 'sm3_256', size: 32 }],
]);

export function bankName(algorithmId: number): BankName {
  return KNOWN_ALGORITHMS.get(algorithmId)?.name ?? `alg_0x${algorithmId.toString(16).padStart(4, '0')}`;
}

const SPEC_ID_SIGNATURE = Buffer.from('Spec ID Event03\0', 'latin1');
/** pcrIndex, eventType, digest[20], eventDataSize. */
const SHA1_RECORD_HEADER = 32;
/** Digests larger than this come from no hash a TPM implements: reject rather than trust. */
const MAX_DIGEST_SIZE = 128;

/**
 * Parses a TCG PC Client PFP event log (`binary_bios_measurements`): a crypto-agile log
 * (SHA-1 format header carrying the Spec ID Event03, then TCG_PCR_EVENT2 records with one
 * digest per bank) or a legacy SHA-1 log. Throws ParseError naming the byte offset for
 * anything that breaks the record framing; content that does not decode is kept raw.
 */
export function parseEventLog(log: Buffer): EventLog {
  if (log.length === 0) throw new ParseError('event log is empty', 0);
  const r = new ByteReader(log);
  const header = readSha1Record(r, 0);
  const specId = header.eventType === EventType.EV_NO_ACTION && startsWith(header.data, SPEC_ID_SIGNATURE)
    ? parseSpecId(new ByteReader(log, header.dataOffset, header.dataOffset + header.data.length, 'Spec ID event'))
    : null;

  if (!specId) {
    // Legacy log: every record is a TCG_PCR_EVENT with a SHA-1 digest.
    const events = [header];
    while (!r.atEnd()) events.push(readSha1Record(r, events.length));
    return { format: 'sha1', specId: null, algorithms: [{ algorithmId: 0x0004, name: 'sha1', digestSize: 20 }], events, size: log.length };
  }

  header.content = { kind: 'spec_id', specId };
  const sizes = new Map(specId.algorithms.map((a) => [a.algorithmId, a]));
  const events: LogEvent[] = [header];
  while (!r.atEnd()) events.push(readEvent2(r, events.length, sizes));
  return { format: 'crypto-agile', specId, algorithms: specId.algorithms, events, size: log.length };
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);
}

function readSha1Record(r: ByteReader, num: number): LogEvent {
  const offset = r.pos;
  if (r.remaining < SHA1_RECORD_HEADER) r.fail(`event ${num}: truncated TCG_PCR_EVENT header`);
  const pcrIndex = r.u32('PCRIndex');
  const eventType = r.u32('EventType');
  const digest = r.bytes(20, 'Digest');
  return finishEvent(r, { num, offset, pcrIndex, eventType, digests: [{ algorithmId: 0x0004, alg: 'sha1', digest }] });
}

/** Both record formats end alike: EventSize, the event data, and its decoded content. */
function finishEvent(r: ByteReader, head: Pick<LogEvent, 'num' | 'offset' | 'pcrIndex' | 'eventType' | 'digests'>): LogEvent {
  const sizeAt = r.pos;
  const size = r.u32('EventSize');
  if (size > r.remaining) r.fail(`event ${head.num}: EventSize ${size} exceeds the ${r.remaining} bytes left`, sizeAt);
  const dataOffset = r.pos;
  const data = r.bytes(size, 'Event');
  return {
    ...head,
    typeName: eventTypeName(head.eventType),
    data,
    dataOffset,
    content: decodeEventContent(head.eventType, r.buf, dataOffset, dataOffset + size),
  };
}

function parseSpecId(r: ByteReader): SpecIdEvent {
  const signature = r.bytes(16, 'Signature').toString('latin1').replace(/\0+$/, '');
  const platformClass = r.u32('platformClass');
  const specVersionMinor = r.u8('specVersionMinor');
  const specVersionMajor = r.u8('specVersionMajor');
  const specErrata = r.u8('specErrata');
  const uintnSize = r.u8('uintnSize');
  const countAt = r.pos;
  const count = r.u32('numberOfAlgorithms');
  if (count === 0) r.fail('numberOfAlgorithms is 0', countAt);
  if (count * 4 > r.remaining) r.fail(`numberOfAlgorithms ${count} does not fit in the Spec ID event`, countAt);
  const algorithms: AlgorithmSize[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const algorithmId = r.u16('algorithmId');
    const digestSize = r.u16('digestSize');
    const known = KNOWN_ALGORITHMS.get(algorithmId);
    if (known && known.size !== digestSize) {
      r.fail(`algorithm ${known.name} declared with digest size ${digestSize}, expected ${known.size}`, at);
    }
    if (digestSize === 0 || digestSize > MAX_DIGEST_SIZE) r.fail(`digest size ${digestSize} is not plausible`, at);
    if (algorithms.some((a) => a.algorithmId === algorithmId)) r.fail(`algorithm 0x${algorithmId.toString(16)} listed twice`, at);
    algorithms.push({ algorithmId, name: bankName(algorithmId), digestSize });
  }
  const vendorInfo = r.bytes(r.u8('vendorInfoSize'), 'vendorInfo');
  return { signature, platformClass, specVersionMinor, specVersionMajor, specErrata, uintnSize, algorithms, vendorInfo };
}

function readEvent2(r: ByteReader, num: number, sizes: Map<number, AlgorithmSize>): LogEvent {
  const offset = r.pos;
  const pcrIndex = r.u32('PCRIndex');
  const eventType = r.u32('EventType');
  const countAt = r.pos;
  const count = r.u32('DigestCount');
  if (count > sizes.size) r.fail(`event ${num}: DigestCount ${count} exceeds the ${sizes.size} algorithms of the Spec ID event`, countAt);
  const digests: EventDigest[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const algorithmId = r.u16('AlgorithmId');
    const alg = sizes.get(algorithmId);
    if (!alg) r.fail(`event ${num}: digest algorithm 0x${algorithmId.toString(16)} is not in the Spec ID event`, at);
    if (digests.some((d) => d.algorithmId === algorithmId)) r.fail(`event ${num}: two ${alg.name} digests`, at);
    digests.push({ algorithmId, alg: alg.name, digest: r.bytes(alg.digestSize, `${alg.name} digest`) });
  }
  return finishEvent(r, { num, offset, pcrIndex, eventType, digests });
}
