/**
 * One line of the ASCII IMA measurement list, tokenised exactly as Keylime does it
 * (spec keylime-ima-mb §1.1). Every hex field is kept as canonical lowercase hex
 * text so the hot path can compare strings instead of allocating Buffers.
 */
import { canonicalHex } from './hex.js';

export type ImaTemplateName = 'ima' | 'ima-ng' | 'ima-sig' | 'ima-buf';

export interface ImaEntry {
  /** PCR token exactly as logged; validation requires "10". */
  pcr: string;
  /** Template-hash column, canonical lowercase hex (its length is not checked). */
  templateHash: string;
  template: ImaTemplateName;
  /** Digest algorithm text ("sha256", ...), or sha1/md5 inferred from a bare digest. */
  digestAlg: string;
  /** File digest, canonical lowercase hex: what runtime policies list. */
  digest: string;
  /** Path or buffer name. */
  name: string;
  /** ima-sig only: the signature hex if it is a well-formed signature_v2_hdr blob, else ''. */
  signature: string;
  /** ima-buf only: the buffer hex. */
  buffer: string;
}

/** Why a line is not an entry. Keylime reports it as `ima.parser.entry` and does not extend it. */
export interface ImaLineError {
  error: string;
}

export type ParsedImaLine = ImaEntry | ImaLineError;

export function isLineError(parsed: ParsedImaLine): parsed is ImaLineError {
  return (parsed as ImaLineError).error !== undefined;
}

/** Legacy `ima` names live in a fixed 256-byte field including the NUL. */
export const LEGACY_NAME_MAX = 255;

const SIG_HEADER_LEN = 9;

/** Python cannot UTF-8-encode lone surrogates; such a name cannot be rebuilt. (ES2024, typed by hand.) */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Parses one line (without its newline). Never throws: malformed input comes back as
 * an ImaLineError. Splits are on single spaces, like Python's `str.split(" ", n)`.
 */
export function parseImaLine(line: string): ParsedImaLine {
  const s1 = line.indexOf(' ');
  if (s1 < 0) return { error: 'expected 4 tokens' };
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return { error: 'expected 4 tokens' };
  const s3 = line.indexOf(' ', s2 + 1);
  if (s3 < 0) return { error: 'expected 4 tokens' };

  const templateHash = canonicalHex(line.slice(s1 + 1, s2));
  if (templateHash === null) return { error: 'template hash is not hex' };
  const template = line.slice(s2 + 1, s3);
  const pcr = line.slice(0, s1);
  const rest = s3 + 1;

  switch (template) {
    case 'ima':
    case 'ima-ng': {
      const sp = line.indexOf(' ', rest);
      if (sp < 0) return { error: `${template}: expected digest and name` };
      const digest = parseDigest(line.slice(rest, sp));
      if (typeof digest === 'string') return { error: digest };
      const name = line.slice(sp + 1);
      if (!isWellFormed(name)) return { error: 'name is not encodable as UTF-8' };
      if (template === 'ima' && Buffer.byteLength(name, 'utf8') > LEGACY_NAME_MAX) {
        return { error: `ima: name longer than ${LEGACY_NAME_MAX} bytes` };
      }
      return entry(pcr, templateHash, template, digest, name, '', '');
    }
    case 'ima-sig':
    case 'ima-buf': {
      const sp1 = line.indexOf(' ', rest);
      if (sp1 < 0) return { error: `${template}: expected 3 fields` };
      const sp2 = line.indexOf(' ', sp1 + 1);
      if (sp2 < 0) return { error: `${template}: expected 3 fields` };
      const digest = parseDigest(line.slice(rest, sp1));
      if (typeof digest === 'string') return { error: digest };
      const name = line.slice(sp1 + 1, sp2);
      if (!isWellFormed(name)) return { error: 'name is not encodable as UTF-8' };
      const third = line.slice(sp2 + 1);
      if (template === 'ima-sig') {
        return entry(pcr, templateHash, template, digest, name, wellFormedSignature(third), '');
      }
      const buffer = canonicalHex(third);
      if (buffer === null) return { error: 'ima-buf: buffer is not hex' };
      return entry(pcr, templateHash, template, digest, name, '', buffer);
    }
    default:
      return { error: `no parser for template ${template}` };
  }
}

function entry(
  pcr: string,
  templateHash: string,
  template: ImaTemplateName,
  digest: { alg: string; hex: string },
  name: string,
  signature: string,
  buffer: string,
): ImaEntry {
  return { pcr, templateHash, template, digestAlg: digest.alg, digest: digest.hex, name, signature, buffer };
}

/** `alg:hex`, or a bare sha1/md5 hex. Returns an error string where Keylime raises ParserError. */
function parseDigest(token: string): { alg: string; hex: string } | string {
  const colon = token.indexOf(':');
  if (colon < 0) {
    const hex = canonicalHex(token);
    if (hex === null) return 'digest is not hex';
    if (hex.length === 40) return { alg: 'sha1', hex };
    if (hex.length === 32) return { alg: 'md5', hex };
    return 'bare digest is neither sha1 nor md5';
  }
  if (token.indexOf(':', colon + 1) >= 0) return 'digest has more than one colon';
  const alg = token.slice(0, colon);
  if (!isWellFormed(alg)) return 'digest algorithm is not encodable as UTF-8';
  const hex = canonicalHex(token.slice(colon + 1));
  if (hex === null) return 'digest is not hex';
  return { alg, hex };
}

/**
 * Keylime keeps an ima-sig signature only if it is hex with a consistent v2 header
 * length; otherwise the entry is treated as unsigned (and its template hash will not match).
 */
function wellFormedSignature(text: string): string {
  if (text === '') return '';
  const hex = canonicalHex(text);
  if (hex === null || hex.length < SIG_HEADER_LEN * 2) return '';
  const sigSize = parseInt(hex.slice(14, 18), 16);
  return SIG_HEADER_LEN + sigSize === hex.length / 2 ? hex : '';
}
