/**
 * PCR 10 replay of an IMA measurement list with per-entry policy checks (spec §1.3,
 * §1.5, §1.7), incremental across polls through a JSON-serialisable state.
 *
 * Two paths, one verdict. A list given as text sends its plain ima-ng lines through a
 * fast lane (fast-ng.ts: read from the list's bytes into template data, hashed four at
 * a time by SIMD SHA-256 and SHA-1 lanes) whose policy lookups go, by its SHA-256, to a compact
 * digest index (digest-index.ts); every other line, and every line of a list given as an array,
 * takes the general path: one tokenisation (string slicing, no regex), template bytes
 * written into a reused buffer, hex canonicalisation only when a fast comparison fails.
 * Both use node:crypto one-shot hashes with string output (a Buffer result costs
 * several times more for inputs this small) and keep PCR values as latin1 strings.
 */
import { IMA_EVENT, imaEvent, type ImaEvent } from './events.js';
import { isLineError, SeparatorScanner, tokenizeAt, type ImaEntry } from './entry.js';
import { digestIndexOf, type DigestIndex } from './digest-index.js';
import { FastNgReader, hexEqualsBinary, hexEqualsWords } from './fast-ng.js';
import { HashLanes, type LaneAlg } from '../crypto/hash-lanes.js';
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
  const run = new ReplayRun(options);
  if (typeof input === 'string') run.replayText(input);
  else run.replayLines(input);
  return run.finish(options);
}

const utf8 = new TextEncoder();
/**
 * Lists up to this size are read into the process's shared hash lanes, whose memory
 * then stays that large (allocating ~20 MB per 100,000-line list and collecting it again
 * cost about a tenth of the replay); larger lists get lanes of their own each time.
 */
const SHARED_INPUT_LIMIT = 64 * 1024 * 1024;

/** Lines per chunk: enough to fill the SIMD lanes and overlap the lookups' cache misses, small enough to stay in cache. */
const CHUNK = 256;

/** One set of hash lanes per process: a replay runs start to end without yielding, so it is never shared. */
let lanesInstance: HashLanes | null = null;

function sharedLanes(): HashLanes {
  return (lanesInstance ??= new HashLanes());
}

/** A line the general path handled inside a chunk: its PCR-side events, and the entry still to check. */
interface PendingLine {
  line: number;
  events: ImaEvent[];
  entry: ImaEntry | null;
}

/**
 * A text replay's fast-lane state: the lanes holding the list's bytes and the chunk's
 * template data, and the chunk's lines in order (where they are; for fast-lane lines,
 * lane >= 0, the byte offset of their template-hash column). A class with methods on
 * ReplayRun rather than closures, so the optimised code survives from one replay to the next.
 */
class TextChunk {
  readonly scan: SeparatorScanner;
  /** Its own scanner, so going back to a chunk's lines leaves the main scan's memo alone. */
  readonly missScan: SeparatorScanner;
  /** PCR || value, in the lanes' scratch area. */
  readonly extendBuf: Buffer;
  readonly recLine = new Int32Array(CHUNK);
  readonly recStart = new Int32Array(CHUNK);
  readonly recEnd = new Int32Array(CHUNK);
  readonly recLane = new Int32Array(CHUNK);
  readonly recColumn = new Int32Array(CHUNK);
  recs = 0;
  /** Fast-lane lines that passed, for the policy lookups: indexes into the records. */
  readonly cand = new Int32Array(CHUNK);
  readonly touched = new Int32Array(CHUNK);

  constructor(text: string, readonly lanes: HashLanes, readonly index: DigestIndex, bankSize: number) {
    this.scan = new SeparatorScanner(text);
    this.missScan = new SeparatorScanner(text);
    this.extendBuf = Buffer.from(lanes.bytes.buffer, lanes.scratchOffset, 2 * bankSize);
  }
}

/** One replay: running PCR, match, collected events. */
class ReplayRun {
  private readonly bank: HashAlg;
  private readonly bankSize: number;
  private readonly policy: CompiledRuntimePolicy;
  private readonly logAlg: HashAlg;
  private readonly sameAlg: boolean;
  private readonly startEntry: number;
  private readonly quotedBin: string | null;
  private readonly keyrings: KeyringSet;
  private readonly checker: EntryPolicyChecker;
  private readonly encoder = new TemplateEncoder();
  private readonly zeroLog: string;
  private readonly zeroLogBin: string;
  /** The template-hash column's algorithm when the hash lanes compute it, else null. */
  private readonly laneLogAlg: LaneAlg | null;
  /** The same for the PCR bank. */
  private readonly laneBankAlg: LaneAlg | null;
  // PCR values live as latin1 strings (one char per byte): hashing to latin1 and writing
  // latin1 back is the cheapest round trip node offers; hex only at the edges.
  private readonly ffBank: string;
  private readonly extendBuf: Buffer;
  readonly failures: ImaEvent[] = [];
  running: string;
  matchLine: number | null;
  matchValue: string;
  logLength = 0;

  constructor(private readonly options: ImaReplayOptions) {
    this.bank = options.bank;
    this.bankSize = HASH_SIZES[this.bank];
    this.policy = options.policy ?? emptyCompiledPolicy();
    this.logAlg = this.policy.logHashAlg;
    this.sameAlg = this.logAlg === this.bank;
    const state = options.state ?? null;
    this.startEntry = options.startEntry ?? state?.nextEntry ?? 0;
    const quoted = options.quotedPcr10 == null ? null : canonicalHex(options.quotedPcr10);
    this.quotedBin = quoted === null ? null : toBin(quoted);
    this.keyrings = new KeyringSet(state?.learnedKeyrings ?? {}, options.tenantKeyring !== undefined ? options.tenantKeyring : this.policy.verificationKeys);
    this.checker = new EntryPolicyChecker(this.policy, this.keyrings, options.bootAggregates);
    this.zeroLog = '00'.repeat(HASH_SIZES[this.logAlg]);
    this.zeroLogBin = '\0'.repeat(HASH_SIZES[this.logAlg]);
    this.laneLogAlg = this.logAlg === 'sha256' || this.logAlg === 'sha1' ? this.logAlg : null;
    this.laneBankAlg = this.bank === 'sha256' || this.bank === 'sha1' ? this.bank : null;
    this.ffBank = '\xff'.repeat(this.bankSize);
    this.extendBuf = Buffer.alloc(2 * this.bankSize);
    this.running = state?.pcr10 ? toBin(canonicalHex(state.pcr10) ?? '') : '\0'.repeat(this.bankSize);
    const checkPcr = options.quotedPcr10 != null;
    this.matchLine = checkPcr && this.running === this.quotedBin ? 0 : null;
    this.matchValue = this.running;
  }

  /** Lines given one by one: the general path only. */
  replayLines(lines: readonly string[]): void {
    for (let i = 0; i < lines.length; i++) {
      const line = stripNewlines(lines[i]!);
      if (line === '') continue;
      this.logLength++;
      const entry = this.generalLine(new SeparatorScanner(line), 0, line.length, i, this.failures);
      if (entry) this.checkEntry(entry, i);
    }
  }

  /**
   * A whole list as one text, walked in place (no split), a chunk of lines at a time.
   * Lines in the common ima-ng shape take the fast lane: their template data goes into
   * the hash lanes' arena as they are read, the chunk's template hashes are computed
   * together, and then every line of the chunk is extended in order. Policy lookups are
   * batched per chunk and merged with the general path's events in line order, so
   * events, their order and learned keys are exactly what a line-by-line walk gives.
   */
  replayText(text: string): void {
    const lanes = text.length <= SHARED_INPUT_LIMIT ? sharedLanes() : new HashLanes();
    lanes.reset();
    // The list's UTF-8 bytes, at `base` in the lanes' memory (why one memory: HashLanes).
    let base = lanes.input(text.length);
    let encoded = utf8.encodeInto(text, lanes.bytes.subarray(base, base + text.length));
    if (encoded.read !== text.length) {
      const length = Buffer.byteLength(text, 'utf8');
      base = lanes.input(length);
      encoded = utf8.encodeInto(text, lanes.bytes.subarray(base, base + length));
    }
    // All ASCII: byte and char offsets agree but for `base`.
    const ascii = encoded.written === text.length;
    const c = new TextChunk(text, lanes, digestIndexOf(this.policy), this.bankSize);
    this.readLines(c, text, base, ascii);
    this.runChunk(c);
  }

  /**
   * Walks the list's lines, gathering them into chunks and running each full one. A
   * method of its own, so the optimised loop ends with a return rather than with code
   * the optimiser has never seen run.
   */
  private readLines(c: TextChunk, text: string, base: number, ascii: boolean): void {
    const lanes = c.lanes;
    const reader = new FastNgReader(lanes.bytes, lanes.view);
    const columnLength = 2 * HASH_SIZES[this.logAlg];
    // The fast lane reads bytes; `shift` maps a line's char offset to its byte offset and
    // only moves past non-ASCII lines, which the fast lane never takes.
    let shift = base;
    let pos = 0;
    for (let i = 0; pos <= text.length; i++) {
      const nl = text.indexOf('\n', pos);
      const end = nl < 0 ? text.length : nl;
      const start = pos;
      pos = end + 1;
      if (start === end) continue;
      this.logLength++;

      // Template data is at most the line's length plus its two length fields and NULs.
      if (lanes.room() < end - start + 16 && c.recs > 0) this.runChunk(c);
      const r = c.recs++;
      c.recLine[r] = i;
      c.recStart[r] = start;
      c.recEnd[r] = end;
      if (reader.read(shift, start, end, columnLength, lanes.cursor, lanes.room())) {
        c.recLane[r] = lanes.add(reader.templateLength);
        c.recColumn[r] = start + shift + 3;
      } else {
        c.recLane[r] = -1;
        if (!ascii) shift += Buffer.byteLength(text.slice(start, end), 'utf8') - (end - start);
      }
      if (c.recs === CHUNK) this.runChunk(c);
    }
  }

  /** Hashes, extends and checks the gathered chunk in line order, then starts the next. */
  private runChunk(c: TextChunk): void {
    const { lanes, index, recLine, recLane, cand } = c;
    const arena = lanes.view;
    // The template data's SHA-256 is also the digest index's key, whatever the algorithms.
    lanes.hashAll('sha256');
    if (this.laneLogAlg === 'sha1' || this.laneBankAlg === 'sha1') lanes.hashAll('sha1');
    let candidates = 0;
    const pending: PendingLine[] = [];
    for (let r = 0; r < c.recs; r++) {
      const line = recLine[r]!;
      if (recLane[r]! >= 0 && this.extendFast(c, r)) {
        if (this.matchLine === null && this.running === this.quotedBin) {
          this.matchLine = line + 1;
          this.matchValue = this.running;
        }
        cand[candidates++] = r;
        continue;
      }
      const events: ImaEvent[] = [];
      const entry = this.generalLine(c.scan, c.recStart[r]!, c.recEnd[r]!, line, events);
      if (entry !== null || events.length > 0) pending.push({ line, events, entry });
    }

    // Touch every candidate's slot first: independent loads, so their cache misses overlap.
    const touched = c.touched;
    for (let k = 0; k < candidates; k++) touched[k] = index.touch(arena.getInt32(lanes.digestOffset(recLane[cand[k]!]!), true));
    let p = 0;
    for (let k = 0; k < candidates; k++) {
      const r = cand[k]!;
      const line = recLine[r]!;
      while (p < pending.length && pending[p]!.line < line) this.settle(pending[p++]!);
      if (index.listed(arena, lanes.digestOffset(recLane[r]!))) continue;
      // Not listed as logged: the full checker decides (excludes, other digests, events).
      // The fast lane took the line, so it tokenises as an entry with these very tokens.
      const e = tokenizeAt(c.missScan, c.recStart[r]!, c.recEnd[r]!) as ImaEntry;
      this.checkEntry(e, line);
    }
    while (p < pending.length) this.settle(pending[p++]!);
    c.recs = 0;
    lanes.reset();
  }

  /** Compares and extends one fast-lane record; false sends the line the general way. */
  private extendFast(c: TextChunk, r: number): boolean {
    const lanes = c.lanes;
    const arena = lanes.view;
    const lane = c.recLane[r]!;
    let logBin = '';
    const laneAlg = this.laneLogAlg;
    if (laneAlg !== null) {
      const column = lanes.digestOffset(lane, laneAlg);
      if (!hexEqualsWords(arena, c.recColumn[r]!, column, laneAlg === 'sha256' ? 8 : 5)) return false;
      // A zero column is a violation entry, the general path's business (and never a real digest).
      if (arena.getInt32(column, true) === 0 && lanes.digestIsZero(lane, laneAlg)) return false;
    } else {
      logBin = hashBin(this.logAlg, lanes.message(lane));
      // The column must be this hash in lowercase hex (anything else, the general path
      // sorts out); a zero hash would be a violation entry, which it also knows.
      if (!hexEqualsBinary(arena, c.recColumn[r]!, logBin) || logBin === this.zeroLogBin) return false;
    }
    const buf = c.extendBuf;
    const bankSize = this.bankSize;
    writeLatin1(buf, this.running, 0);
    const laneBank = this.laneBankAlg;
    if (laneBank !== null) {
      const value = lanes.digestOffset(lane, laneBank);
      const at = lanes.scratchOffset + bankSize;
      for (let k = 0; k < bankSize >>> 2; k++) arena.setInt32(at + 4 * k, arena.getInt32(value + 16 * k, true));
    } else {
      writeLatin1(buf, this.sameAlg ? logBin : hashBin(this.bank, lanes.message(lane)), bankSize);
    }
    this.running = hashBin(this.bank, buf);
    return true;
  }

  private settle(p: PendingLine): void {
    for (const ev of p.events) this.failures.push(ev);
    if (p.entry) this.checkEntry(p.entry, p.line);
  }

  /**
   * Tokenise, rebuild, hash and extend one line the fast lane did not take. Events about
   * the line itself go to `events`; returns the entry when its policy check is due.
   */
  private generalLine(scan: SeparatorScanner, start: number, end: number, i: number, events: ImaEvent[]): ImaEntry | null {
    const startEntry = this.startEntry;
    const e = tokenizeAt(scan, start, end);
    let td = isLineError(e) ? null : this.encoder.encode(e);
    if (!isLineError(e) && td === null) {
      // Not plain hex: Python's fromhex may still accept it (whitespace between pairs).
      const digest = canonicalHex(e.digest);
      if (digest !== null) {
        e.digest = digest;
        td = this.encoder.encode(e);
      }
    }
    let logHash = '';
    if (td !== null && !isLineError(e)) {
      logHash = hashHex(this.logAlg, td);
      if (logHash !== e.templateHash) {
        const column = canonicalHex(e.templateHash);
        if (column === null) td = null;
        else e.templateHash = column;
      }
    }
    if (td === null || isLineError(e)) {
      const line = scan.text.slice(start, end);
      events.push(imaEvent(IMA_EVENT.parserEntry, { message: `Line was not parsable into a valid IMA entry: ${line}` }, { line: i, entry: startEntry + i }));
      return null;
    }

    // Violations log a zero template hash; the kernel extends all-ones instead.
    const tomtou = e.templateHash === this.zeroLog;
    const buf = this.extendBuf;
    writeLatin1(buf, this.running, 0);
    if (tomtou) writeLatin1(buf, this.ffBank, this.bankSize);
    else if (this.sameAlg) writeHex(buf, logHash, this.bankSize);
    else writeLatin1(buf, hashBin(this.bank, td), this.bankSize);
    this.running = hashBin(this.bank, buf);
    if (this.matchLine === null && this.running === this.quotedBin) {
      this.matchLine = i + 1;
      this.matchValue = this.running;
    }

    const name = e.name;
    if (e.pcr !== '10') {
      events.push(imaEvent(IMA_EVENT.imaPcr, { message: 'IMA PCR is not the configured one', expected: '10', got: e.pcr, path: name }, { line: i, entry: startEntry + i, path: name }));
    }
    if (tomtou) {
      if (this.options.reportTomtou) events.push(imaEvent(IMA_EVENT.tomtou, { message: 'hash validation was skipped', path: name }, { line: i, entry: startEntry + i, path: name }));
      return null;
    }
    if (logHash !== e.templateHash) {
      events.push(
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
      return null;
    }
    return e;
  }

  /** The policy check of one entry whose template hash matched. */
  private checkEntry(e: ImaEntry, i: number): void {
    const name = e.name;
    // Fast accept: a file whose logged digest is listed passes whatever the excludes or
    // its signature say, so the full checker only sees the rest (and every failure).
    // boot_aggregate is left to it because measured-boot aggregates extend its list.
    if (e.template !== 'ima-buf' && name !== 'boot_aggregate') {
      const accepted = this.policy.digests.get(name);
      if (accepted !== undefined && (accepted.length === 1 ? accepted[0] === e.digest : accepted.includes(e.digest))) return;
    }
    const ev = this.checker.check(e, i, this.startEntry + i);
    if (ev) this.failures.push(ev);
  }

  finish(options: ImaReplayOptions): ImaReplayResult {
    const { failures, matchLine, logLength } = this;
    const state = options.state ?? null;
    if (options.quotedPcr10 != null && matchLine === null) {
      failures.push(imaEvent(IMA_EVENT.pcrMismatch, { message: `IMA measurement list does not match TPM PCR ${options.quotedPcr10}` }));
    }

    const base = state ?? initialImaState();
    let newState: ImaAttestationState = { ...base, learnedKeyrings: this.keyrings.toLearned() };
    if (matchLine !== null && matchLine > 0) {
      newState.nextEntry = base.nextEntry + matchLine;
      newState.pcr10 = toHex(this.matchValue);
      newState.pcr10Bank = this.bank;
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

    return { ok: failures.length === 0, failures, newState, pcrMatchLine: matchLine, runningPcr10: toHex(this.running), logLength };
  }
}

function toBin(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

function toHex(bin: string): string {
  return Buffer.from(bin, 'latin1').toString('hex');
}
