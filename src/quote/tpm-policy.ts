import { KeylimeError, ParseError } from '../errors.js';
import { EVENT_MISSING_PCRS, invalidPcrEventId, type AttestationEvent } from './events.js';
import { parsePyJson, pyJsonDumps, type PyJson } from './pyjson.js';

/** Keylime's fixed PCR roles. */
export const IMA_PCR = 10;
export const DATA_PCR = 16;
/** config.MEASUREDBOOT_PCRS: what a measured-boot policy covers. */
export const MEASURED_BOOT_PCRS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15];

/**
 * A `tpm_policy`: the PCR allowlist the verifier compares quotes with, the mask it asks
 * the agent for, and the exact JSON text that travels in the `tpm_policy` field.
 */
export interface TpmPolicy {
  /** PCR -> accepted values (lowercase hex for built policies; as sent for parsed ones). */
  readonly pcrs: ReadonlyMap<number, readonly string[]>;
  /** The mask text as on the wire (Python `hex()`, e.g. "0x408000"); undefined if absent. */
  readonly mask: string | undefined;
  /** PCRs selected by the mask, ascending. */
  readonly maskPcrs: readonly number[];
  /** The wire string (Python `json.dumps` of the policy dict). */
  readonly json: string;
}

export interface BuildTpmPolicyOptions {
  /** A runtime (IMA) policy is attached: the mask gains PCR 10. */
  runtimePolicy?: boolean;
  /** A measured-boot policy is attached: the mask gains PCRs 0-9 and 11-15, which the tpm_policy may then not list. */
  measuredBoot?: boolean;
}

const DIGEST_HEX_LENGTHS = new Set([40, 64, 96, 128]);

function bad(message: string): KeylimeError {
  return new KeylimeError('invalid_input', `tpm_policy: ${message}`);
}

function toOrdered(input: unknown): PyJson {
  if (input instanceof Map || input === null || typeof input !== 'object' || Array.isArray(input)) return input as PyJson;
  return new Map(Object.entries(input as Record<string, unknown>)) as Map<string, PyJson>;
}

function pcrBits(pcrs: Iterable<number>): number {
  let mask = 0;
  for (const p of pcrs) mask += 2 ** p;
  return mask;
}

function indicesOfMask(mask: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; mask >> BigInt(i) !== 0n; i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

/**
 * The tenant's `readPolicy` + `process_policy` (spec §6). `input` is the user's JSON text
 * (pass text, not an object, to keep the key order the user wrote, which Python keeps
 * and a JavaScript object would not), an object, or nothing for `{}`.
 */
export function buildTpmPolicy(input?: string | Record<string, unknown> | Map<string, unknown>, options: BuildTpmPolicyOptions = {}): TpmPolicy {
  const doc = input === undefined || (typeof input === 'string' && input.trim() === '') ? new Map() : typeof input === 'string' ? parsePyJson(input) : toOrdered(input);
  if (!(doc instanceof Map)) throw bad('must be a JSON object mapping PCR numbers to hex values');
  const out = new Map<string, PyJson>();
  const pcrs = new Map<number, string[]>();
  for (const [key, value] of doc) {
    if (key === 'mask') throw bad('"mask" is computed from the PCRs listed; do not give it');
    // Python's str.isdigit() and int(key) > 24: "24" passes, though no TPM has PCR 24.
    if (!/^[0-9]+$/.test(key) || Number(key) > 24) throw bad(`invalid PCR number ${JSON.stringify(key)} (0-24 expected)`);
    const pcr = Number(key);
    if (pcr === DATA_PCR) throw bad(`PCR ${DATA_PCR} cannot be listed: Keylime uses it to bind the agent's key`);
    if (pcr === IMA_PCR) throw bad(`PCR ${IMA_PCR} cannot be listed: it is checked by the runtime (IMA) policy`);
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0) throw bad(`PCR ${key} needs a hex value or a non-empty list of them`);
    const values = list.map((v) => {
      if (typeof v !== 'string' || !/^[0-9a-fA-F]+$/.test(v) || !DIGEST_HEX_LENGTHS.has(v.length)) {
        throw bad(`PCR ${key}: ${JSON.stringify(v)} is not a SHA-1/256/384/512 hex digest`);
      }
      return v.toLowerCase();
    });
    out.set(key, values);
    pcrs.set(pcr, values);
  }
  let mask = pcrBits(pcrs.keys());
  if (options.runtimePolicy) mask |= 1 << IMA_PCR;
  if (options.measuredBoot) {
    const clash = MEASURED_BOOT_PCRS.filter((p) => pcrs.has(p));
    if (clash.length) throw bad(`PCRs ${clash.join(', ')} are covered by the measured boot policy and cannot be listed too`);
    mask |= pcrBits(MEASURED_BOOT_PCRS);
  }
  const maskText = '0x' + mask.toString(16);
  out.set('mask', maskText);
  return { pcrs, mask: maskText, maskPcrs: indicesOfMask(BigInt(mask)), json: pyJsonDumps(out) };
}

/** Python `int(text, 0)` for the literal forms a mask may take (0x.., 0o.., 0b.., decimal, "_" separators). */
export function parsePythonIntLiteral(text: string): bigint | undefined {
  const m =
    /^0[xX]((?:_?[0-9a-fA-F])+)$/.exec(text) ??
    /^0[oO]((?:_?[0-7])+)$/.exec(text) ??
    /^0[bB]((?:_?[01])+)$/.exec(text) ??
    /^([1-9](?:_?[0-9])*|0(?:_?0)*)$/.exec(text);
  if (!m) return undefined;
  const digits = m[1]!.replace(/_/g, '');
  const prefix = /^0[xX]/.test(text) ? '0x' : /^0[oO]/.test(text) ? '0o' : /^0[bB]/.test(text) ? '0b' : '';
  return BigInt(prefix + digits);
}

/**
 * Reads a stored/wire `tpm_policy` string as the verifier does: JSON, `mask` as a Python
 * int literal, every other key a PCR number with a value or list of values.
 */
export function parseTpmPolicy(wire: string): TpmPolicy {
  const doc = parsePyJson(wire);
  if (!(doc instanceof Map)) throw new ParseError('tpm_policy must be a JSON object');
  const pcrs = new Map<number, string[]>();
  let mask: string | undefined;
  let maskPcrs: number[] = [];
  for (const [key, value] of doc) {
    if (key === 'mask') {
      if (typeof value !== 'string') throw new ParseError('tpm_policy mask must be a string such as "0x408000"');
      const bits = parsePythonIntLiteral(value);
      if (bits === undefined) throw new ParseError(`tpm_policy mask ${JSON.stringify(value)} is not an integer literal`);
      if (bits >= 1n << 64n) throw new ParseError(`tpm_policy mask ${value} selects PCRs beyond 63`);
      mask = value;
      maskPcrs = indicesOfMask(bits);
      continue;
    }
    if (!/^[0-9]{1,6}$/.test(key)) throw new ParseError(`tpm_policy key ${JSON.stringify(key)} is not a PCR number`);
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((v): v is string => typeof v === 'string')) {
      throw new ParseError(`tpm_policy PCR ${key} must map to a string or a list of strings`);
    }
    pcrs.set(Number(key), list);
  }
  return { pcrs, mask, maskPcrs, json: wire };
}

/** One PCR against the allowlist: the `invalid_pcr_N` event, or null when fine or not listed. */
export function checkPcrAgainstPolicy(pcr: number, value: string, policy: TpmPolicy): AttestationEvent | null {
  const allowed = policy.pcrs.get(pcr);
  if (!allowed || allowed.includes(value)) return null;
  return {
    eventId: invalidPcrEventId(pcr),
    recoverable: true,
    context: { context: 'PCR value is not in allowlist', got: value, expected: [...allowed] },
  };
}

export interface CheckTpmPolicyOptions {
  /**
   * Quoted PCRs validated elsewhere and left out of the allowlist comparison (they still
   * count as present). PCR 10 (IMA) is always left out, as Keylime does.
   */
  exclude?: Iterable<number>;
}

/**
 * Spec §5.2 3e-3f: each quoted PCR the policy lists must hold one of its values
 * (`invalid_pcr_N`, ascending), and every PCR the policy lists must be quoted (`missing_pcrs`).
 */
export function checkTpmPolicy(
  pcrs: Readonly<Record<number, string>>,
  policy: TpmPolicy,
  options: CheckTpmPolicyOptions = {},
): AttestationEvent[] {
  const exclude = new Set(options.exclude ?? []);
  exclude.add(IMA_PCR);
  const events: AttestationEvent[] = [];
  for (const key of Object.keys(pcrs)) {
    const pcr = Number(key);
    if (exclude.has(pcr)) continue;
    const ev = checkPcrAgainstPolicy(pcr, pcrs[pcr]!, policy);
    if (ev) events.push(ev);
  }
  const missing = [...policy.pcrs.keys()].filter((p) => pcrs[p] === undefined).sort((a, b) => a - b);
  if (missing.length) {
    events.push({ eventId: EVENT_MISSING_PCRS, recoverable: true, context: { context: 'PCRs are missing in quote', data: missing } });
  }
  return events;
}
