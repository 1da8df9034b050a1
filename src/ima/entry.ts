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
  /** Template-hash column, canonical lowercase hex (its length is not checked). Raw token from tokenizeImaLine. */
  templateHash: string;
  template: ImaTemplateName;
  /** Digest algorithm text ("sha256", ...), or sha1/md5 inferred from a bare digest. */
  digestAlg: string;
  /** File digest, canonical lowercase hex: what runtime policies list. Raw token from tokenizeImaLine. */
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
  const e = tokenizeImaLine(line);
  if (isLineError(e)) return e;
  const templateHash = canonicalHex(e.templateHash);
  if (templateHash === null) return { error: 'template hash is not hex' };
  const digest = canonicalHex(e.digest);
  if (digest === null) return { error: 'digest is not hex' };
  e.templateHash = templateHash;
  e.digest = digest;
  return e;
}

/**
 * Finds the next space or colon at or after a position, remembering the last answer.
 * A line that lacks a separator makes indexOf scan into the following lines; the memo
 * keeps a list of such lines linear instead of quadratic.
 */
export class SeparatorScanner {
  private spaceFrom = Infinity;
  private spaceAt = -1;
  private colonFrom = Infinity;
  private colonAt = -1;

  constructor(readonly text: string) {}

  space(from: number): number {
    if (from < this.spaceFrom || (this.spaceAt >= 0 && from > this.spaceAt)) {
      this.spaceFrom = from;
      this.spaceAt = this.text.indexOf(' ', from);
    }
    return this.spaceAt;
  }

  colon(from: number): number {
    if (from < this.colonFrom || (this.colonAt >= 0 && from > this.colonAt)) {
      this.colonFrom = from;
      this.colonAt = this.text.indexOf(':', from);
    }
    return this.colonAt;
  }
}

/**
 * The replay hot path's parser: checks the line's structure but leaves the template
 * hash and a prefixed digest as raw tokens (possibly upper case or not hex at all).
 * The replay validates them as a side effect of using them and canonicalises only when
 * a fast comparison fails (see canonicalHex), which keeps per-line work small.
 */
export function tokenizeImaLine(line: string): ParsedImaLine {
  return tokenizeAt(new SeparatorScanner(line), 0, line.length);
}

const EXPECT_4 = { error: 'expected 4 tokens' };

/** Tokenises text[start, end) without copying the line out of a larger text. */
export function tokenizeAt(scan: SeparatorScanner, start: number, end: number): ParsedImaLine {
  const text = scan.text;
  const s1 = scan.space(start);
  if (s1 < 0 || s1 >= end) return EXPECT_4;
  const s2 = scan.space(s1 + 1);
  if (s2 < 0 || s2 >= end) return EXPECT_4;
  const s3 = scan.space(s2 + 1);
  if (s3 < 0 || s3 >= end) return EXPECT_4;

  // Common values come back as constants, saving a string per field.
  const pcr = s1 - start === 2 && text.startsWith('10', start) ? '10' : text.slice(start, s1);
  const templateHash = text.slice(s1 + 1, s2);
  const template = templateName(text, s2 + 1, s3);
  if (template === null) return { error: `no parser for template ${text.slice(s2 + 1, s3)}` };
  const rest = s3 + 1;

  const sp1 = scan.space(rest);
  const hasSp1 = sp1 >= 0 && sp1 < end;
  if (template === 'ima' || template === 'ima-ng') {
    if (!hasSp1) return { error: `${template}: expected digest and name` };
    const name = text.slice(sp1 + 1, end);
    if (!isWellFormed(name)) return { error: 'name is not encodable as UTF-8' };
    if (template === 'ima' && Buffer.byteLength(name, 'utf8') > LEGACY_NAME_MAX) {
      return { error: `ima: name longer than ${LEGACY_NAME_MAX} bytes` };
    }
    return withDigest(scan, rest, sp1, { pcr, templateHash, template, digestAlg: '', digest: '', name, signature: '', buffer: '' });
  }
  const sp2 = hasSp1 ? scan.space(sp1 + 1) : -1;
  if (sp2 < 0 || sp2 >= end) return { error: `${template}: expected 3 fields` };
  const name = text.slice(sp1 + 1, sp2);
  if (!isWellFormed(name)) return { error: 'name is not encodable as UTF-8' };
  const third = text.slice(sp2 + 1, end);
  if (template === 'ima-sig') {
    return withDigest(scan, rest, sp1, { pcr, templateHash, template, digestAlg: '', digest: '', name, signature: wellFormedSignature(third), buffer: '' });
  }
  const buffer = canonicalHex(third);
  if (buffer === null) return { error: 'ima-buf: buffer is not hex' };
  return withDigest(scan, rest, sp1, { pcr, templateHash, template, digestAlg: '', digest: '', name, signature: '', buffer });
}

function templateName(text: string, start: number, end: number): ImaTemplateName | null {
  switch (end - start) {
    case 3:
      return text.startsWith('ima', start) ? 'ima' : null;
    case 6:
      return text.startsWith('ima-ng', start) ? 'ima-ng' : null;
    case 7:
      if (text.startsWith('ima-sig', start)) return 'ima-sig';
      return text.startsWith('ima-buf', start) ? 'ima-buf' : null;
    default:
      return null;
  }
}

/**
 * Fills in the digest from text[start, end): `alg:hex` (hex left raw, see tokenizeImaLine),
 * or a bare sha1/md5 hex (canonical, since its length decides the algorithm).
 */
function withDigest(scan: SeparatorScanner, start: number, end: number, e: ImaEntry): ParsedImaLine {
  const text = scan.text;
  const colon = scan.colon(start);
  if (colon < 0 || colon >= end) {
    const hex = canonicalHex(text.slice(start, end));
    if (hex === null) return { error: 'digest is not hex' };
    if (hex.length === 40) e.digestAlg = 'sha1';
    else if (hex.length === 32) e.digestAlg = 'md5';
    else return { error: 'bare digest is neither sha1 nor md5' };
    e.digest = hex;
    return e;
  }
  const second = scan.colon(colon + 1);
  if (second >= 0 && second < end) return { error: 'digest has more than one colon' };
  const algLen = colon - start;
  if (algLen === 6 && text.startsWith('sha256', start)) e.digestAlg = 'sha256';
  else if (algLen === 4 && text.startsWith('sha1', start)) e.digestAlg = 'sha1';
  else {
    e.digestAlg = text.slice(start, colon);
    if (!isWellFormed(e.digestAlg)) return { error: 'digest algorithm is not encodable as UTF-8' };
  }
  e.digest = text.slice(colon + 1, end);
  return e;
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
