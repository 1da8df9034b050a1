/**
 * The agent's TPM: tpm2-tools run one at a time against one TCTI (tpm-tooling.md §2.3).
 *
 * Rules this class keeps so it works on a bare swtpm (3 object slots, no resource manager):
 * - every public method runs through one serial queue, so concurrent requests never
 *   interleave their tool sequences;
 * - every command that loads a context is followed by `tpm2_flushcontext -t`, policy
 *   sessions are flushed explicitly, also when the command failed;
 * - the AK is made persistent (tpm2_evictcontrol) so a quote is one `tpm2_quote` process
 *   with nothing to flush; a persistent handle holding someone else's object is never
 *   touched, only a handle this class recorded for an earlier AK of its own is reused;
 * - saved context files die with a TPM reset; the EK is re-derived from the seed and a
 *   transient AK reloaded from its blobs, and the command is run again.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KeylimeError, TpmError, invalidInput } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import {
  assertEkAlg,
  assertHashAlg,
  assertSignAlg,
  digestSize,
  type EkAlg,
  type HashAlg,
  type SignAlg,
} from './algorithms.js';
import { EK_CERT_NV_INDEX, trimDerCertificate } from './ek-cert.js';
import { objectName } from './public-area.js';
import { checkQuotedPcrs } from './quote-pcrs.js';
import { SerialQueue } from './serial-queue.js';
import { ToolRunner } from './tools.js';

export const DEFAULT_TCTI = 'device:/dev/tpmrm0';
/** First persistent handle tried for the AK; the AK may take any free one of the next 16. */
export const DEFAULT_AK_HANDLE = 0x81000100;
const AK_HANDLE_WINDOW = 16;
/** Attempts at a quote whose PCR values agree with the signed digest (protocol spec §3.4). */
const QUOTE_ATTEMPTS = 5;
/** Keylime's data PCR: reset and extended with H(NK PEM) before every quote. */
export const DATA_PCR = 16;
const EXTENDS_PER_CALL = 500;

export interface TpmOptions {
  /** TCTI for tpm2-tools; default $TPM2TOOLS_TCTI, else device:/dev/tpmrm0. */
  tcti?: string;
  /** Private directory (created 0700) for context, key and quote files. */
  workDir: string;
  logger?: Logger;
  /** Directory of the tpm2_* binaries; default: PATH. */
  binDir?: string;
  /** First persistent handle for the AK (default 0x81000100); null keeps the AK transient. */
  akHandle?: number | null;
  /** Longest a single tpm2-tools command may take (default 60 s; RSA key generation on slow TPMs is seconds). */
  commandTimeoutMs?: number;
}

export interface EkInfo {
  alg: EkAlg;
  /** TPM2B_PUBLIC of the EK, what Keylime sends as `ek_tpm`. */
  ekPublic: Buffer;
  ekName: Buffer;
  /** Saved context file of the EK in workDir (valid until the next TPM reset). */
  context: string;
}

export interface AkOptions {
  hashAlg?: HashAlg;
  /** Default: rsassa for an RSA AK, ecdsa for an ECC AK. */
  signAlg?: SignAlg;
  /** Key type of the AK; default: the EK's. */
  encAlg?: EkAlg;
}

export interface AkKey {
  /** TPM2B_PUBLIC, Keylime's `aik_tpm`. */
  akPublic: Buffer;
  /** TPM2B_PRIVATE wrapped by the EK; keep it with akPublic to reload the same AK later. */
  akPrivate: Buffer;
  /** nameAlg || H(TPMT_PUBLIC): what MakeCredential binds the challenge to. */
  akName: Buffer;
  /** Persistent handle holding the AK, or null when it lives in a transient context. */
  persistentHandle: number | null;
}

export interface PcrExtension {
  pcr: number;
  bank: HashAlg;
  digest: Buffer;
}

export interface QuoteRequest {
  /** Qualifying data: the ASCII bytes of Keylime's nonce string (≤ 64 bytes). */
  nonce: string | Buffer;
  bank: HashAlg;
  pcrs: number[];
  /** Signature hash; default: the bank. Keylime requires it to equal the bank. */
  hashAlg?: HashAlg;
}

export interface DataQuoteRequest {
  nonce: string | Buffer;
  bank: HashAlg;
  pcrs: number[];
  /** H_bank(NK PEM): PCR 16 must read H(0…0 || dataDigest) in the quote. */
  dataDigest: Buffer;
}

export interface TpmQuote {
  /** Marshalled TPMS_ATTEST (tpm2_quote -m). */
  attest: Buffer;
  /** Marshalled TPMT_SIGNATURE (tpm2_quote -s). */
  signature: Buffer;
  /** tpm2-tools serialized PCRs (tpm2_quote -o), protocol spec §4.4. */
  pcrsBlob: Buffer;
  /** The quoted PCR values of the bank, by index. */
  pcrValues: Map<number, Buffer>;
  hashAlg: HashAlg;
  /** tpm2_quote runs needed until the PCR values matched the signed digest. */
  attempts: number;
}

export type TpmCapability =
  | {
      ok: true;
      manufacturer: string;
      vendor: string;
      /** "2.0" */
      family: string;
      /** Spec revision, e.g. "1.64". */
      revision: string;
      firmwareVersion: string;
      /** PCR banks with at least one PCR allocated. */
      banks: string[];
    }
  | { ok: false; error: string; code: string };

interface LoadedEk extends EkInfo {}

interface LoadedAk {
  public: Buffer;
  private: Buffer;
  name: Buffer;
  persistentHandle: number | null;
}

interface HandleRecord {
  handle: number;
  name: string;
}

const STALE_CONTEXT = /Esys_ContextLoad\(0x1DF\)|integrity check failed/i;
const PCRS_MOVED = /PCR values failed to match quote's digest/;
const MISSING_HANDLE = /Esys_TR_FromTPMPublic\(0x18B\)/i;

function hex(handle: number): string {
  return `0x${handle.toString(16)}`;
}

function checkPcrIndex(pcr: number): void {
  if (!Number.isInteger(pcr) || pcr < 0 || pcr > 23) throw invalidInput(`PCR index ${pcr} is outside 0..23`);
}

function pcrList(pcrs: number[]): string {
  if (pcrs.length === 0) throw invalidInput('no PCRs selected');
  pcrs.forEach(checkPcrIndex);
  return [...new Set(pcrs)].sort((a, b) => a - b).join(',');
}

function checkDigest(bank: HashAlg, digest: Buffer): void {
  if (digest.length !== digestSize(bank)) {
    throw invalidInput(`a ${bank} digest is ${digestSize(bank)} bytes, got ${digest.length}`);
  }
}

function nonceBytes(nonce: string | Buffer): Buffer {
  const bytes = typeof nonce === 'string' ? Buffer.from(nonce, 'utf8') : nonce;
  // TPM2B_DATA holds at most sizeof(TPMU_HA) = 64 bytes.
  if (bytes.length > 64) throw invalidInput(`nonce is ${bytes.length} bytes, at most 64 fit in a quote`);
  return bytes;
}

export class Tpm {
  readonly tcti: string;
  readonly workDir: string;
  private readonly tools: ToolRunner;
  private readonly queue = new SerialQueue();
  private readonly logger: Logger;
  private readonly akHandleBase: number | null;
  private ek: LoadedEk | undefined;
  private ak: LoadedAk | undefined;
  /** PCR 16 content last confirmed by a quote, so steady-state quotes skip reset + extend. */
  private dataPcr: { bank: HashAlg; digest: Buffer } | undefined;

  constructor(options: TpmOptions) {
    this.tcti = options.tcti ?? process.env.TPM2TOOLS_TCTI ?? DEFAULT_TCTI;
    this.workDir = resolve(options.workDir);
    this.logger = options.logger ?? silentLogger;
    const base = options.akHandle === undefined ? DEFAULT_AK_HANDLE : options.akHandle;
    if (base !== null && (!Number.isInteger(base) || base < 0x81000000 || base + AK_HANDLE_WINDOW - 1 > 0x817fffff)) {
      throw invalidInput(`AK handle ${hex(base)} is outside the owner persistent range 0x81000000..0x817fffff`);
    }
    this.akHandleBase = base;
    mkdirSync(this.workDir, { recursive: true, mode: 0o700 });
    chmodSync(this.workDir, 0o700);
    this.tools = new ToolRunner({
      tcti: this.tcti,
      cwd: this.workDir,
      binDir: options.binDir,
      timeoutMs: options.commandTimeoutMs ?? 60_000,
      logger: this.logger,
    });
  }

  /** tpm2-tools processes started by this instance so far. */
  get processCount(): number {
    return this.tools.processCount;
  }

  /** The AK quotes are signed with, once createAk or loadAk has run. */
  get currentAk(): AkKey | undefined {
    const ak = this.ak;
    return ak && { akPublic: ak.public, akPrivate: ak.private, akName: ak.name, persistentHandle: ak.persistentHandle };
  }

  // ---- EK ---------------------------------------------------------------------------

  /** Derives the EK from the endorsement seed (same key every time) and makes it the current EK. */
  async createEk(alg: EkAlg): Promise<EkInfo> {
    const ekAlg = assertEkAlg(alg);
    return this.queue.run(async () => {
      this.ek = await this.deriveEk(ekAlg);
      return { ...this.ek };
    });
  }

  /** The DER EK certificate from its TCG NV index, or null when the TPM has none. */
  async readEkCertificate(alg: EkAlg): Promise<Buffer | null> {
    const index = EK_CERT_NV_INDEX[assertEkAlg(alg)];
    return this.queue.run(async () => {
      const size = nvIndexSize((await this.tools.run('tpm2_nvreadpublic', [])).stdout, index);
      if (size === undefined) return null;
      const file = this.file('ekcert.nv');
      try {
        await this.tools.run('tpm2_nvread', [hex(index), '-C', 'o', '-s', String(size), '-o', file]);
        return trimDerCertificate(await readFile(file));
      } finally {
        await rm(file, { force: true });
      }
    });
  }

  // ---- AK ---------------------------------------------------------------------------

  /** Creates a new AK under the current EK and makes it the signing key for quotes. */
  async createAk(options: AkOptions = {}): Promise<AkKey> {
    return this.queue.run(async () => {
      const ek = this.requireEk();
      const encAlg = assertEkAlg(options.encAlg ?? ek.alg);
      const hashAlg = assertHashAlg(options.hashAlg ?? 'sha256');
      const signAlg = assertSignAlg(options.signAlg ?? (encAlg === 'rsa' ? 'rsassa' : 'ecdsa'), encAlg);
      await this.withFreshContexts(async () => {
        try {
          await this.tools.run('tpm2_createak', [
            '-C', this.requireEk().context, '-c', 'ak.ctx', '-G', encAlg, '-g', hashAlg, '-s', signAlg,
            '-u', 'ak.pub', '-f', 'tss', '-n', 'ak.name', '-r', 'ak.priv',
          ]);
        } finally {
          await this.flushTransient();
        }
      });
      const [akPublic, akPrivate, akName] = await Promise.all(
        ['ak.pub', 'ak.priv', 'ak.name'].map((f) => readFile(this.file(f))),
      ) as [Buffer, Buffer, Buffer];
      this.ak = { public: akPublic, private: akPrivate, name: akName, persistentHandle: null };
      this.dataPcr = undefined;
      if (this.akHandleBase !== null) await this.persistAk();
      return this.currentAk!;
    });
  }

  /**
   * Makes a previously created AK (its public and private blobs) the signing key again, for
   * example after an agent restart or a TPM reset. Finds it at its persistent handle, else
   * loads it under the current EK (PolicySecret(endorsement) session) and persists it.
   */
  async loadAk(akPublic: Buffer, akPrivate: Buffer): Promise<AkKey> {
    return this.queue.run(async () => {
      this.requireEk();
      const name = objectName(akPublic);
      this.ak = { public: Buffer.from(akPublic), private: Buffer.from(akPrivate), name, persistentHandle: null };
      this.dataPcr = undefined;
      if (this.akHandleBase !== null) {
        const found = (await this.scanAkHandles(name)).match;
        if (found !== null) {
          this.ak.persistentHandle = found;
          await this.writeHandleRecord({ handle: found, name: name.toString('hex') });
          return this.currentAk!;
        }
      }
      await this.withFreshContexts(() => this.loadAkTransient(), false);
      if (this.akHandleBase !== null) await this.persistAk();
      return this.currentAk!;
    });
  }

  /**
   * Removes the persistent AK this instance recorded (if the handle still holds it) and
   * forgets the current AK. For decommissioning and tests; the AK blobs stay valid and
   * loadAk can restore it.
   */
  async removePersistentAk(): Promise<boolean> {
    return this.queue.run(async () => {
      const record = await this.readHandleRecord();
      if (!record) return false;
      const name = await this.persistentName(record.handle);
      if (name?.toString('hex') !== record.name) return false;
      await this.tools.run('tpm2_evictcontrol', ['-C', 'o', '-c', hex(record.handle)]);
      await rm(this.file('ak-handle.json'), { force: true });
      if (this.ak?.persistentHandle === record.handle) this.ak = undefined;
      return true;
    });
  }

  /**
   * TPM2_ActivateCredential on a registrar challenge: the tpm2-tools credential file
   * (0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET) as sent base64-decoded.
   * Returns the decrypted secret (Keylime: 32 ASCII characters).
   */
  async activateCredential(credentialBlob: Buffer): Promise<Buffer> {
    checkCredentialBlob(credentialBlob);
    return this.queue.run(async () => {
      this.requireEk();
      this.requireAk();
      const input = this.file('credential.bin');
      const output = this.file('secret.bin');
      await writeFile(input, credentialBlob, { mode: 0o600 });
      try {
        await this.withFreshContexts(() =>
          this.withEkPolicySession((session) =>
            this.tools.run('tpm2_activatecredential', [
              '-c', this.akReference(), '-C', this.requireEk().context, '-i', input, '-o', output, '-P', `session:${session}`,
            ]),
          ),
        );
        return await readFile(output);
      } finally {
        await Promise.all([rm(input, { force: true }), rm(output, { force: true })]);
      }
    });
  }

  // ---- PCRs -------------------------------------------------------------------------

  async pcrRead(bank: HashAlg, pcrs: number[]): Promise<Map<number, Buffer>> {
    const alg = assertHashAlg(bank);
    const list = pcrList(pcrs);
    return this.queue.run(async () => {
      const { stdout } = await this.tools.run('tpm2_pcrread', [`${alg}:${list}`]);
      return parsePcrRead(stdout, alg, list.split(',').map(Number));
    });
  }

  async pcrExtend(pcr: number, bank: HashAlg, digest: Buffer): Promise<void> {
    return this.pcrExtendMany([{ pcr, bank, digest }]);
  }

  /** Extends in the given order, many per tpm2_pcrextend process (an IMA replay is thousands). */
  async pcrExtendMany(extensions: PcrExtension[]): Promise<void> {
    const args = extensions.map(({ pcr, bank, digest }) => {
      checkPcrIndex(pcr);
      const alg = assertHashAlg(bank);
      checkDigest(alg, digest);
      return `${pcr}:${alg}=${digest.toString('hex')}`;
    });
    return this.queue.run(async () => {
      if (extensions.some((e) => e.pcr === DATA_PCR)) this.dataPcr = undefined;
      for (let i = 0; i < args.length; i += EXTENDS_PER_CALL) {
        await this.tools.run('tpm2_pcrextend', args.slice(i, i + EXTENDS_PER_CALL));
      }
    });
  }

  /** Resets a PCR; at locality 0 only the debug PCR 16 and PCR 23 allow it. */
  async pcrReset(pcr: number): Promise<void> {
    checkPcrIndex(pcr);
    return this.queue.run(async () => {
      if (pcr === DATA_PCR) this.dataPcr = undefined;
      await this.tools.run('tpm2_pcrreset', [String(pcr)]);
    });
  }

  // ---- Quotes -----------------------------------------------------------------------

  /** TPM2_Quote over one bank with the current AK; retried while PCRs move under it. */
  async quote(request: QuoteRequest): Promise<TpmQuote> {
    const nonce = nonceBytes(request.nonce);
    const bank = assertHashAlg(request.bank);
    const hashAlg = assertHashAlg(request.hashAlg ?? bank);
    const list = pcrList(request.pcrs);
    return this.queue.run(async () => {
      this.requireAk();
      for (let attempt = 1; ; attempt++) {
        const quote = await this.quoteOnce(nonce, bank, list, hashAlg, attempt);
        if (quote) return quote;
        if (attempt >= QUOTE_ATTEMPTS) throw pcrsKeptMoving();
      }
    });
  }

  /**
   * The agent's quote (protocol spec §3.4): PCR 16 holds H(0…0 || dataDigest) and is quoted
   * together with the requested PCRs. When the previous quote already showed PCR 16 with
   * exactly that value, the quote is taken directly and only on a mismatch is PCR 16 reset
   * and extended again: the attested state is the same, for one process instead of three.
   */
  async quoteWithDataPcr(request: DataQuoteRequest): Promise<TpmQuote> {
    const nonce = nonceBytes(request.nonce);
    const bank = assertHashAlg(request.bank);
    checkDigest(bank, request.dataDigest);
    const list = pcrList([...request.pcrs, DATA_PCR]);
    const expected = createHash(bank).update(Buffer.alloc(digestSize(bank))).update(request.dataDigest).digest();
    return this.queue.run(async () => {
      this.requireAk();
      for (let attempt = 1; ; attempt++) {
        const ready = this.dataPcr?.bank === bank && this.dataPcr.digest.equals(request.dataDigest);
        if (!ready) {
          await this.tools.run('tpm2_pcrreset', [String(DATA_PCR)]);
          await this.tools.run('tpm2_pcrextend', [`${DATA_PCR}:${bank}=${request.dataDigest.toString('hex')}`]);
        }
        const quote = await this.quoteOnce(nonce, bank, list, bank, attempt);
        if (quote) {
          if (quote.pcrValues.get(DATA_PCR)?.equals(expected)) {
            this.dataPcr = { bank, digest: Buffer.from(request.dataDigest) };
            return quote;
          }
          // Someone else reset or extended PCR 16: set it again.
          this.dataPcr = undefined;
          this.logger.warn('PCR 16 did not hold the data digest; resetting it', { attempt });
        }
        if (attempt >= QUOTE_ATTEMPTS) throw pcrsKeptMoving();
      }
    });
  }

  // ---- Doctor -----------------------------------------------------------------------

  /** Whether the TPM answers, and what it says about itself. Never throws. */
  async getCapability(): Promise<TpmCapability> {
    return this.queue.run(async () => {
      try {
        const fixed = parseProperties((await this.tools.run('tpm2_getcap', ['properties-fixed'])).stdout);
        const banks = parseBanks((await this.tools.run('tpm2_getcap', ['pcrs'])).stdout);
        const value = (key: string) => fixed.get(key)?.value ?? '';
        const raw = (key: string) => fixed.get(key)?.raw ?? '';
        return {
          ok: true as const,
          manufacturer: value('TPM2_PT_MANUFACTURER'),
          vendor: vendorString([1, 2, 3, 4].map((i) => raw(`TPM2_PT_VENDOR_STRING_${i}`))),
          family: value('TPM2_PT_FAMILY_INDICATOR'),
          revision: value('TPM2_PT_REVISION'),
          firmwareVersion: `${raw('TPM2_PT_FIRMWARE_VERSION_1')}.${raw('TPM2_PT_FIRMWARE_VERSION_2')}`,
          banks,
        };
      } catch (e) {
        if (e instanceof KeylimeError) return { ok: false as const, error: e.message, code: e.code };
        throw e;
      }
    });
  }

  // ---- internals (always called inside the queue) -----------------------------------

  private file(name: string): string {
    return join(this.workDir, name);
  }

  private requireEk(): LoadedEk {
    if (!this.ek) throw new KeylimeError('internal', 'no EK yet: call createEk() first');
    return this.ek;
  }

  private requireAk(): LoadedAk {
    if (!this.ak) throw new KeylimeError('internal', 'no AK yet: call createAk() or loadAk() first');
    return this.ak;
  }

  /** What tpm2-tools' -c takes for the AK: its persistent handle, or its saved context file. */
  private akReference(): string {
    const ak = this.requireAk();
    return ak.persistentHandle !== null ? hex(ak.persistentHandle) : 'ak.ctx';
  }

  private async flushTransient(): Promise<void> {
    try {
      await this.tools.run('tpm2_flushcontext', ['-t']);
    } catch (e) {
      // Reported, not thrown: it must not hide the error of the command it cleans up after.
      this.logger.warn('tpm2_flushcontext -t failed', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  private async deriveEk(alg: EkAlg): Promise<LoadedEk> {
    const context = `ek-${alg}.ctx`;
    const pub = `ek-${alg}.pub`;
    try {
      await this.tools.run('tpm2_createek', ['-c', context, '-G', alg, '-u', pub]);
    } finally {
      await this.flushTransient();
    }
    const ekPublic = await readFile(this.file(pub));
    return { alg, ekPublic, ekName: objectName(ekPublic), context };
  }

  /**
   * Runs `action`; if it failed because saved contexts died in a TPM reset, re-derives the
   * EK, reloads a transient AK, and runs it once more.
   */
  private async withFreshContexts<T>(action: () => Promise<T>, reloadAk = true): Promise<T> {
    try {
      return await action();
    } catch (e) {
      if (!(e instanceof TpmError && STALE_CONTEXT.test(e.stderr))) throw e;
      this.logger.info('TPM was reset since the contexts were saved; recreating them');
      const previous = this.requireEk();
      const ek = await this.deriveEk(previous.alg);
      if (!ek.ekPublic.equals(previous.ekPublic)) {
        throw new KeylimeError('tpm', 'the EK changed (TPM cleared?): the AK and registration are no longer valid');
      }
      this.ek = ek;
      if (reloadAk && this.ak && this.ak.persistentHandle === null) await this.loadAkTransient();
      return action();
    }
  }

  /** Starts a policy session satisfying the EK's PolicySecret(endorsement), and flushes it afterwards. */
  private async withEkPolicySession<T>(action: (session: string) => Promise<T>): Promise<T> {
    const session = 'ek-policy.session';
    await this.tools.run('tpm2_startauthsession', ['--policy-session', '-S', session]);
    try {
      await this.tools.run('tpm2_policysecret', ['-S', session, '-c', 'e']);
      return await action(session);
    } finally {
      try {
        await this.tools.run('tpm2_flushcontext', [session]);
      } catch (e) {
        this.logger.warn('could not flush the EK policy session', { error: e instanceof Error ? e.message : String(e) });
      }
      await this.flushTransient();
      await rm(this.file(session), { force: true });
    }
  }

  /** Loads the current AK's blobs under the EK into ak.ctx (nothing left loaded). */
  private async loadAkTransient(): Promise<void> {
    const ak = this.requireAk();
    await writeFile(this.file('ak.pub'), ak.public, { mode: 0o600 });
    await writeFile(this.file('ak.priv'), ak.private, { mode: 0o600 });
    await this.withEkPolicySession((session) =>
      this.tools.run('tpm2_load', [
        '-C', this.requireEk().context, '-P', `session:${session}`, '-u', 'ak.pub', '-r', 'ak.priv', '-c', 'ak.ctx', '-n', 'ak.name',
      ]),
    );
    const loadedName = await readFile(this.file('ak.name'));
    if (!loadedName.equals(ak.name)) throw new KeylimeError('tpm', 'the TPM loaded the AK under a different name');
  }

  private async persistentName(handle: number): Promise<Buffer | undefined> {
    const file = this.file('persistent.name');
    try {
      await this.tools.run('tpm2_readpublic', ['-c', hex(handle), '-n', file]);
      return await readFile(file);
    } catch (e) {
      if (e instanceof TpmError && MISSING_HANDLE.test(e.stderr)) return undefined;
      throw e;
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Which handles of the AK window are free, and which one (if any) already holds `name`. */
  private async scanAkHandles(name: Buffer): Promise<{ match: number | null; free: number[]; names: Map<number, string> }> {
    const base = this.akHandleBase!;
    const window = Array.from({ length: AK_HANDLE_WINDOW }, (_, i) => base + i);
    const { stdout } = await this.tools.run('tpm2_getcap', ['handles-persistent']);
    const used = new Set(parseHandles(stdout));
    const names = new Map<number, string>();
    for (const handle of window.filter((h) => used.has(h))) {
      const held = await this.persistentName(handle);
      if (held) names.set(handle, held.toString('hex'));
      if (held?.equals(name)) return { match: handle, free: [], names };
    }
    return { match: null, free: window.filter((h) => !used.has(h)), names };
  }

  /** Moves the loaded AK (ak.ctx) to a persistent handle; stays transient if none can be had. */
  private async persistAk(): Promise<void> {
    const ak = this.requireAk();
    const scan = await this.scanAkHandles(ak.name);
    let handle = scan.match;
    if (handle === null) {
      const record = await this.readHandleRecord();
      if (record && scan.names.get(record.handle) === record.name) {
        // Our own earlier AK, superseded by this one: give its slot back.
        await this.tools.run('tpm2_evictcontrol', ['-C', 'o', '-c', hex(record.handle)]);
        scan.free.unshift(record.handle);
      }
      handle = scan.free[0] ?? null;
      if (handle === null) {
        this.logger.warn('no free persistent handle for the AK; it stays transient', {
          from: hex(this.akHandleBase!), count: AK_HANDLE_WINDOW,
        });
        return;
      }
      try {
        await this.tools.run('tpm2_evictcontrol', ['-C', 'o', '-c', 'ak.ctx', hex(handle)]);
      } catch (e) {
        if (!(e instanceof TpmError)) throw e;
        this.logger.warn('could not make the AK persistent; it stays transient', { handle: hex(handle), error: e.message });
        return;
      } finally {
        await this.flushTransient();
      }
    }
    ak.persistentHandle = handle;
    await this.writeHandleRecord({ handle, name: ak.name.toString('hex') });
  }

  private async readHandleRecord(): Promise<HandleRecord | undefined> {
    try {
      const data = JSON.parse(await readFile(this.file('ak-handle.json'), 'utf8')) as Partial<HandleRecord>;
      if (typeof data.handle === 'number' && typeof data.name === 'string') return { handle: data.handle, name: data.name };
    } catch {
      // Missing or unreadable: no handle of ours to reclaim.
    }
    return undefined;
  }

  private async writeHandleRecord(record: HandleRecord): Promise<void> {
    await writeFile(this.file('ak-handle.json'), JSON.stringify(record) + '\n', { mode: 0o600 });
  }

  /**
   * One tpm2_quote. Returns undefined when the PCR values it read do not hash to the signed
   * pcrDigest (a PCR was extended in between), so the caller retries.
   */
  private async quoteOnce(
    nonce: Buffer,
    bank: HashAlg,
    list: string,
    hashAlg: HashAlg,
    attempt: number,
  ): Promise<TpmQuote | undefined> {
    const args = ['-l', `${bank}:${list}`, '-m', 'quote.msg', '-s', 'quote.sig', '-o', 'quote.pcrs', '-g', hashAlg];
    if (nonce.length > 0) args.push('-q', nonce.toString('hex'));
    try {
      await this.runWithAk((ak) => this.tools.run('tpm2_quote', ['-c', ak, ...args]));
    } catch (e) {
      // tpm2_quote 5.x makes the same check itself and fails the run.
      if (!(e instanceof TpmError && PCRS_MOVED.test(e.stderr))) throw e;
      this.logger.warn('PCRs changed while tpm2_quote ran; quoting again', { attempt });
      return undefined;
    }
    const [attest, signature, pcrsBlob] = (await Promise.all(
      ['quote.msg', 'quote.sig', 'quote.pcrs'].map((f) => readFile(this.file(f))),
    )) as [Buffer, Buffer, Buffer];
    const check = checkQuotedPcrs(attest, pcrsBlob, hashAlg);
    if (!check.consistent) {
      this.logger.warn('quote PCR values do not match the signed digest; quoting again', { attempt, reason: check.reason });
      return undefined;
    }
    const pcrValues = check.values.values().next().value ?? new Map<number, Buffer>();
    return { attest, signature, pcrsBlob, pcrValues, hashAlg, attempts: attempt };
  }

  /**
   * Runs a command that uses the AK. A transient AK is flushed afterwards and reloaded if a
   * TPM reset killed its context; a persistent AK that vanished is loaded and persisted again.
   */
  private async runWithAk<T>(command: (ak: string) => Promise<T>, restored = false): Promise<T> {
    const ak = this.requireAk();
    if (ak.persistentHandle !== null) {
      try {
        return await command(hex(ak.persistentHandle));
      } catch (e) {
        if (restored || !(e instanceof TpmError && MISSING_HANDLE.test(e.stderr))) throw e;
        this.logger.warn('the persistent AK is gone; loading it again', { handle: hex(ak.persistentHandle) });
        ak.persistentHandle = null;
        await this.withFreshContexts(() => this.loadAkTransient(), false);
        await this.persistAk();
        return this.runWithAk(command, true);
      }
    }
    return this.withFreshContexts(async () => {
      try {
        return await command('ak.ctx');
      } finally {
        await this.flushTransient();
      }
    });
  }
}

function pcrsKeptMoving(): KeylimeError {
  return new KeylimeError('tpm', `PCR values changed during each of ${QUOTE_ATTEMPTS} quote attempts`);
}

function checkCredentialBlob(blob: Buffer): void {
  if (blob.length < 12) throw invalidInput(`credential blob is ${blob.length} bytes, too short`);
  if (blob.readUInt32BE(0) !== 0xbadcc0de) throw invalidInput('credential blob does not start with the 0xBADCC0DE magic');
  if (blob.readUInt32BE(4) !== 1) throw invalidInput(`credential blob version ${blob.readUInt32BE(4)} is not 1`);
  const idSize = blob.readUInt16BE(8);
  const secretAt = 10 + idSize;
  if (blob.length < secretAt + 2 || blob.length !== secretAt + 2 + blob.readUInt16BE(secretAt)) {
    throw invalidInput('credential blob sizes do not add up to its length');
  }
}

/** Size of one NV index from `tpm2_nvreadpublic` (all indices) output, undefined when absent. */
function nvIndexSize(stdout: string, index: number): number | undefined {
  let inIndex = false;
  for (const line of stdout.split('\n')) {
    const header = /^0x([0-9a-f]+):\s*$/i.exec(line);
    if (header) {
      inIndex = parseInt(header[1]!, 16) === index;
      continue;
    }
    const size = /^\s+size:\s*(\d+)\s*$/.exec(line);
    if (inIndex && size) return Number(size[1]);
  }
  return undefined;
}

function parseHandles(stdout: string): number[] {
  return [...stdout.matchAll(/^-\s*0x([0-9a-f]+)\s*$/gim)].map((m) => parseInt(m[1]!, 16));
}

function parsePcrRead(stdout: string, bank: HashAlg, pcrs: number[]): Map<number, Buffer> {
  const values = new Map<number, Buffer>();
  let inBank = false;
  for (const line of stdout.split('\n')) {
    const header = /^\s*(\w+):\s*$/.exec(line);
    if (header) {
      inBank = header[1] === bank;
      continue;
    }
    const value = /^\s*(\d+)\s*:\s*0x([0-9a-f]*)\s*$/i.exec(line);
    if (inBank && value) values.set(Number(value[1]), Buffer.from(value[2]!, 'hex'));
  }
  for (const pcr of pcrs) {
    if (values.get(pcr)?.length !== digestSize(bank)) {
      throw new TpmError('tpm2_pcrread', 0, stdout, `tpm2_pcrread did not report ${bank} PCR ${pcr} (is the bank allocated?)`);
    }
  }
  return values;
}

function parseProperties(stdout: string): Map<string, { raw: string; value: string }> {
  const props = new Map<string, { raw: string; value: string }>();
  let current: { raw: string; value: string } | undefined;
  for (const line of stdout.split('\n')) {
    const name = /^(TPM2_PT_\w+):\s*$/.exec(line);
    if (name) {
      current = { raw: '', value: '' };
      props.set(name[1]!, current);
      continue;
    }
    const field = /^\s+(raw|value):\s*(.*?)\s*$/.exec(line);
    if (current && field) current[field[1] as 'raw' | 'value'] = field[2]!.replace(/^"(.*)"$/, '$1');
  }
  return props;
}

/** The four vendor string properties are 4 ASCII bytes each, NUL or space padded. */
function vendorString(raws: string[]): string {
  const bytes = Buffer.concat(raws.map((r) => Buffer.from(r.replace(/^0x/i, '').padStart(8, '0').slice(-8), 'hex')));
  return bytes.toString('latin1').replace(/\0/g, ' ').replace(/\s+/g, ' ').trim();
}

function parseBanks(stdout: string): string[] {
  return [...stdout.matchAll(/^\s*-\s*(\w+):\s*\[([^\]]*)\]/gm)].filter((m) => m[2]!.trim() !== '').map((m) => m[1]!);
}

/** Keylime's wire form of a quote (protocol spec §4.1): "r" b64(attest) ":" b64(signature) ":" b64(pcrs). */
export function toKeylimeQuote(quote: Pick<TpmQuote, 'attest' | 'signature' | 'pcrsBlob'>): string {
  return `r${quote.attest.toString('base64')}:${quote.signature.toString('base64')}:${quote.pcrsBlob.toString('base64')}`;
}
