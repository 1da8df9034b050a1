import forge from 'node-forge';
import { isIP } from 'node:net';
import { ParseError, invalidInput } from '../errors.js';

/**
 * Thin Buffer-facing layer over node-forge's ASN.1 tools. forge works on "binary
 * strings"; everything outside this file speaks Buffers.
 */
const { asn1 } = forge;
export type Asn1 = forge.asn1.Asn1;

const UNIVERSAL = asn1.Class.UNIVERSAL;
const CONTEXT = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

const bin = (b: Buffer | Uint8Array): string => Buffer.from(b).toString('binary');

export function encode(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/** Parse DER that we (or a trusted file) produced; re-encoding it gives the same bytes. */
export function decode(der: Buffer): Asn1 {
  // @types/node-forge only knows the old boolean form of the options argument.
  const fromDer = asn1.fromDer as unknown as (bytes: string, options: object) => Asn1;
  try {
    return fromDer(bin(der), { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch (e) {
    throw new ParseError(`malformed DER: ${(e as Error).message}`);
  }
}

export const seq = (...items: Asn1[]): Asn1 => asn1.create(UNIVERSAL, T.SEQUENCE, true, items);
export const set = (...items: Asn1[]): Asn1 => asn1.create(UNIVERSAL, T.SET, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(UNIVERSAL, T.OID, false, asn1.oidToDer(dotted).getBytes());
export const nullValue = (): Asn1 => asn1.create(UNIVERSAL, T.NULL, false, '');
export const bool = (v: boolean): Asn1 => asn1.create(UNIVERSAL, T.BOOLEAN, false, v ? '\xff' : '\x00');
export const octets = (b: Buffer): Asn1 => asn1.create(UNIVERSAL, T.OCTETSTRING, false, bin(b));
/** BIT STRING with zero unused bits (keys, signatures). */
export const bitString = (b: Buffer): Asn1 => asn1.create(UNIVERSAL, T.BITSTRING, false, '\x00' + bin(b));

/** DER named-bit BIT STRING (KeyUsage): bit 0 is the most significant, trailing zeros dropped. */
export function namedBits(bits: number[]): Asn1 {
  if (bits.length === 0) return asn1.create(UNIVERSAL, T.BITSTRING, false, '\x00');
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3] = bytes[b >> 3]! | (0x80 >> (b & 7));
  const unused = 7 - (highest & 7);
  return asn1.create(UNIVERSAL, T.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}
export const utf8 = (s: string): Asn1 => asn1.create(UNIVERSAL, T.UTF8, false, bin(Buffer.from(s, 'utf8')));
export const printable = (s: string): Asn1 => asn1.create(UNIVERSAL, T.PRINTABLESTRING, false, s);
export const ia5 = (s: string): Asn1 => asn1.create(UNIVERSAL, T.IA5STRING, false, s);

/** Non-negative INTEGER from a number or big-endian magnitude bytes, minimally encoded. */
export function int(value: number | bigint | Buffer): Asn1 {
  let bytes: Buffer;
  if (Buffer.isBuffer(value)) {
    bytes = value;
  } else {
    let hex = BigInt(value).toString(16);
    if (hex.length % 2) hex = '0' + hex;
    bytes = Buffer.from(hex, 'hex');
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return asn1.create(UNIVERSAL, T.INTEGER, false, bin(bytes));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on. */
export function time(date: Date): Asn1 {
  const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return whole.getUTCFullYear() < 2050
    ? asn1.create(UNIVERSAL, T.UTCTIME, false, asn1.dateToUtcTime(whole))
    : asn1.create(UNIVERSAL, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(whole));
}

export const explicit = (tag: number, inner: Asn1): Asn1 => asn1.create(CONTEXT, tag, true, [inner]);
/** IMPLICIT primitive context tag holding raw content bytes (GeneralName choices, key ids). */
export const implicitBytes = (tag: number, content: Buffer): Asn1 => asn1.create(CONTEXT, tag, false, bin(content));
/** IMPLICIT constructed context tag whose content is the given elements. */
export const implicitSeq = (tag: number, ...items: Asn1[]): Asn1 => asn1.create(CONTEXT, tag, true, items);

/** Embed already-encoded DER (a SubjectPublicKeyInfo from node:crypto, a Name from a cert). */
export const raw = (der: Buffer): Asn1 => decode(der);

/** Content octets of a primitive node (BIT STRING content includes the unused-bits byte). */
export function contentOf(node: Asn1): Buffer {
  if (typeof node.value !== 'string') throw invalidInput('expected a primitive ASN.1 value');
  return Buffer.from(node.value, 'binary');
}

export function childrenOf(node: Asn1): Asn1[] {
  if (!Array.isArray(node.value)) throw invalidInput('expected a constructed ASN.1 value');
  return node.value;
}

/** 4 or 16 network-order bytes for an IPv4/IPv6 literal; null when `text` is not one. */
export function ipBytes(text: string): Buffer | null {
  const family = isIP(text);
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  if (family !== 6 || text.includes('%')) return null;
  let s = text;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    tail.push((p[0]! << 8) | p[1]!, (p[2]! << 8) | p[3]!);
    s = s.slice(0, -v4[1]!.length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  let words: number[];
  const gap = s.indexOf('::');
  if (gap >= 0) {
    const head = groups(s.slice(0, gap));
    const rest = groups(s.slice(gap + 2));
    const fill = 8 - head.length - rest.length - tail.length;
    words = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  } else {
    words = [...groups(s), ...tail];
  }
  if (words.length !== 8) return null;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}
