/**
 * PCR 10 replay of an IMA measurement list with per-entry policy checks (spec §1.3,
 * §1.5, §1.7), incremental across polls through a JSON-serialisable state.
 *
 * Hot path: one tokenisation (string slicing, no regex), template bytes written into a
 * reused buffer, node:crypto one-shot hashes with string output (a Buffer result costs
 * several times more for inputs this small), PCR values kept as latin1 strings, hex
 * canonicalisation only when a fast comparison fails.
 */
import { IMA_EVENT, imaEvent, type ImaEvent } from './events.js';
import { isLineError, SeparatorScanner, tokenizeAt } from './entry.js';
import { HASH_SIZES, hashBin, hashHex, type HashAlg } from './hash-algs.js';
import { canonicalHex, pythonBytesRepr } from './hex.js';
import { writeHex, writeLatin1 } from './fast-write.js';
import type { ImaKeyring } from './keys.js';
import { KeyringSet, type LearnedKeyrings } from './keyrings.js';
import { emptyCompiledPolicy, type CompiledRuntimePolicy } from './policy.js';
import { TemplateEncoder } from './template.js';
import { EntryPolicyChecker } from './validate.js';

/** What a verifier keeps per agent between polls (Keylime's AgentAttestState, IMA part). */
export interface ImaAttestationState {
  /** `ima_ml_entry` to request next: entries before it are already attested. */
  nextEntry: number;
  /** PCR 10 after entry nextEntry-1, lowercase hex in `pcr10Bank`; null = all zeros. */
  pcr10: string | null;
  pcr10Bank: HashAlg | null;
  /** The agent's boottime as last accepted; null before the first round. */
  boottime: number | null;
  /** Keys learned from ima-buf entries, by keyring name. */
  learnedKeyrings: LearnedKeyrings;
  /** (match line, non-empty line count) of the last round: Keylime keeps it in memory only. */
  quoteProgress: { matchLine: number; logLength: number } | null;
}

export function initialImaState(): ImaAttestationState {
  return { nextEntry: 0, pcr10: null, pcr10Bank: null, boottime: null, learnedKeyrings: {}, quoteProgress: null };
}

/** Keylime's reset_ima_attestation: forget progress, PCR, learned keys; keep boottime. */
export function resetImaState(state: ImaAttestationState): ImaAttestationState {
  return { ...initialImaState(), boottime: state.boottime };
}

export interface ImaRoundStart {
  state: ImaAttestationState;
  /** true: the agent rebooted; Keylime passes this round without checking anything. */
  skip: boolean;
  failures: ImaEvent[];
}

/**
 * The verifier's pre-checks on a quote response (spec §1.7): entry 0 resets; any other
 * entry than the one requested is irrecoverable; a new boottime with the expected
 * entry means a reboot, which resets and skips this round.
 */
export function beginImaRound(state: ImaAttestationState, response: { entry: number; boottime: number }): ImaRoundStart {
  const failures: ImaEvent[] = [];
  let next = state;
  if (response.entry === 0) {
    next = resetImaState(state);
  } else if (response.entry !== state.nextEntry) {
    failures.push(
      imaEvent(
        IMA_EVENT.invalidImaEntryNb,
        { message: 'Agent did not respond with requested next IMA measurement list entry', got: response.entry, expected: state.nextEntry },
        undefined,
        false,
      ),
    );
  } else if (state.boottime !== null && state.boottime !== response.boottime) {
    return { state: resetImaState(state), skip: true, failures };
  }
  return { state: { ...next, boottime: response.boottime }, skip: false, failures };
}

export interface ImaReplayOptions {
  /** Hash algorithm of the quote's PCR bank. */
  bank: HashAlg;
  /** Quoted PCR 10 (hex). Omitted or null: no PCR comparison and no state progress. */
  quotedPcr10?: string | null;
  /** Compiled runtime policy; default is Keylime's empty policy (every file fails). */
  policy?: CompiledRuntimePolicy;
  /** Saved state for incremental replay; omitted = initialImaState() (replay from zero). */
  state?: ImaAttestationState | null;
  /** Entry number of the first line (for event numbering); default state.nextEntry or 0. */
  startEntry?: number;
  /** Measured-boot aggregates by bank, accepted for `boot_aggregate` in addition to the policy's. */
  bootAggregates?: Record<string, readonly string[]> | null;
  /** Tenant keyring: the agent's `ima_sign_verification_keys` if set; default the policy's verification-keys. */
  tenantKeyring?: ImaKeyring | null;
  /** Keylime `[verifier] ignore_tomtou_errors = True` (sic): report violation entries as `ima.validation.tomtou`. */
  reportTomtou?: boolean;
}

export interface ImaReplayResult {
  /** No event at all: the IMA part of the attestation passes. */
  ok: boolean;
  failures: ImaEvent[];
  /** State for the next poll (reset if anything failed). */
  newState: ImaAttestationState;
  /** 0 = the start value matched; k = matched after the k-th line (1-based, blank lines count); null = no match. */
  pcrMatchLine: number | null;
  /** PCR 10 after every parsed line. */
  runningPcr10: string;
  /** Non-empty lines seen. */
  logLength: number;
}

function stripNewlines(line: string): string {
  let a = 0;
  let b = line.length;
  while (a < b && line.charCodeAt(a) === 0x0a) a++;
  while (b > a && line.charCodeAt(b - 1) === 0x0a) b--;
  return a === 0 && b === line.length ? line : line.slice(a, b);
}

/**
 * Replays and checks an ASCII IMA measurement list. Never throws on list content:
 * anything wrong is an event in `failures`.
 */
export function replayImaLog(input: string | readonly string[], options: ImaReplayOptions): ImaReplayResult {
  const bank = options.bank;
  const bankSize = HASH_SIZES[bank];
  const policy = options.policy ?? emptyCompiledPolicy();
  const logAlg = policy.logHashAlg;
  const state = options.state ?? null;
  const startEntry = options.startEntry ?? state?.nextEntry ?? 0;

  const quoted = options.quotedPcr10 == null ? null : canonicalHex(options.quotedPcr10);
  const checkPcr = options.quotedPcr10 != null;
  const keyrings = new KeyringSet(state?.learnedKeyrings ?? {}, options.tenantKeyring !== undefined ? options.tenantKeyring : policy.verificationKeys);
  const checker = new EntryPolicyChecker(policy, keyrings, options.bootAggregates);
  const encoder = new TemplateEncoder();
  const fastDigests = policy.digests;
  const failures: ImaEvent[] = [];

  const zeroLog = '00'.repeat(HASH_SIZES[logAlg]);
  // PCR values live as latin1 strings (one char per byte): hashing to latin1 and writing
  // latin1 back is the cheapest round trip node offers; hex only at the edges.
  const ffBank = '\xff'.repeat(bankSize);
  const sameAlg = logAlg === bank;
  const extendBuf = Buffer.alloc(2 * bankSize);
  const toBin = (hex: string) => Buffer.from(hex, 'hex').toString('latin1');
  const toHex = (bin: string) => Buffer.from(bin, 'latin1').toString('hex');

  let running = state?.pcr10 ? toBin(canonicalHex(state.pcr10) ?? '') : '\0'.repeat(bankSize);
  const quotedBin = quoted === null ? null : toBin(quoted);
  let matchLine: number | null = checkPcr && running === quotedBin ? 0 : null;
  let matchValue = running;
  let logLength = 0;

  // Lines are walked in place (no split): a string input is one scanner over the text.
  const textInput = typeof input === 'string' ? input : null;
  const textScan = textInput === null ? null : new SeparatorScanner(textInput);
  let pos = 0;
  for (let i = 0; textInput === null ? i < (input as readonly string[]).length : pos <= textInput.length; i++) {
    let scan: SeparatorScanner;
    let start: number;
    let end: number;
    if (textInput !== null) {
      const nl = textInput.indexOf('\n', pos);
      end = nl < 0 ? textInput.length : nl;
      start = pos;
      pos = end + 1;
      scan = textScan!;
    } else {
      const line = stripNewlines((input as readonly string[])[i]!);
      scan = new SeparatorScanner(line);
      start = 0;
      end = line.length;
    }
    if (start === end) continue;
    logLength++;
    const e = tokenizeAt(scan, start, end);
    let td = isLineError(e) ? null : encoder.encode(e);
    if (!isLineError(e) && td === null) {
      // Not plain hex: Python's fromhex may still accept it (whitespace between pairs).
      const digest = canonicalHex(e.digest);
      if (digest !== null) {
        e.digest = digest;
        td = encoder.encode(e);
      }
    }
    let logHash = '';
    if (td !== null && !isLineError(e)) {
      logHash = hashHex(logAlg, td);
      if (logHash !== e.templateHash) {
        const column = canonicalHex(e.templateHash);
        if (column === null) td = null;
        else e.templateHash = column;
      }
    }
    if (td === null || isLineError(e)) {
      const line = scan.text.slice(start, end);
      failures.push(imaEvent(IMA_EVENT.parserEntry, { message: `Line was not parsable into a valid IMA entry: ${line}` }, { line: i, entry: startEntry + i }));
      continue;
    }

    // Violations log a zero template hash; the kernel extends all-ones instead.
    const tomtou = e.templateHash === zeroLog;
    writeLatin1(extendBuf, running, 0);
    if (tomtou) writeLatin1(extendBuf, ffBank, bankSize);
    else if (sameAlg) writeHex(extendBuf, logHash, bankSize);
    else writeLatin1(extendBuf, hashBin(bank, td), bankSize);
    running = hashBin(bank, extendBuf);
    if (matchLine === null && running === quotedBin) {
      matchLine = i + 1;
      matchValue = running;
    }

    const name = e.name;
    if (e.pcr !== '10') {
      failures.push(imaEvent(IMA_EVENT.imaPcr, { message: 'IMA PCR is not the configured one', expected: '10', got: e.pcr, path: name }, { line: i, entry: startEntry + i, path: name }));
    }
    if (tomtou) {
      if (options.reportTomtou) failures.push(imaEvent(IMA_EVENT.tomtou, { message: 'hash validation was skipped', path: name }, { line: i, entry: startEntry + i, path: name }));
      continue;
    }
    if (logHash !== e.templateHash) {
      failures.push(
        imaEvent(
          IMA_EVENT.imaHash,
          {
            message: 'IMA template hash does not match the calculated hash.',
            expected: pythonBytesRepr(Buffer.from(e.templateHash, 'hex')),
            got: pythonBytesRepr(td),
            path: name,
          },
          { line: i, entry: startEntry + i, path: name },
        ),
      );
      continue;
    }
    // Fast accept: a file whose logged digest is listed passes whatever the excludes or
    // its signature say, so the full checker only sees the rest (and every failure).
    // boot_aggregate is left to it because measured-boot aggregates extend its list.
    if (e.template !== 'ima-buf' && name !== 'boot_aggregate') {
      const accepted = fastDigests.get(name);
      if (accepted !== undefined && (accepted.length === 1 ? accepted[0] === e.digest : accepted.includes(e.digest))) continue;
    }
    const ev = checker.check(e, i, startEntry + i);
    if (ev) failures.push(ev);
  }

  if (checkPcr && matchLine === null) {
    failures.push(imaEvent(IMA_EVENT.pcrMismatch, { message: `IMA measurement list does not match TPM PCR ${options.quotedPcr10}` }));
  }

  const base = state ?? initialImaState();
  let newState: ImaAttestationState = { ...base, learnedKeyrings: keyrings.toLearned() };
  if (matchLine !== null && matchLine > 0) {
    newState.nextEntry = base.nextEntry + matchLine;
    newState.pcr10 = toHex(matchValue);
    newState.pcr10Bank = bank;
  }

  if (matchLine !== null) {
    const prev = base.quoteProgress;
    if (prev && matchLine !== logLength) {
      const prevLag = prev.logLength - prev.matchLine;
      if (prevLag > 0 && matchLine < prevLag) {
        failures.push(
          imaEvent(IMA_EVENT.quoteProgress, {
            message: `The quoted PCR 10 did not progress past the ${prevLag} entries the previous quote lagged behind`,
          }),
        );
      }
    }
    newState.quoteProgress = { matchLine, logLength };
  }

  // Keylime resets all IMA progress on any event, so the next poll replays from entry 0.
  if (failures.length > 0) newState = resetImaState(newState);

  return { ok: failures.length === 0, failures, newState, pcrMatchLine: matchLine, runningPcr10: toHex(running), logLength };
}
