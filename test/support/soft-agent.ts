/**
 * A Keylime agent's quoting behaviour in software, for unit tests and benchmarks of the
 * verifier: an RSA-2048 AK and NK, a sha256 PCR bank, PCR 16 reset and extended with
 * H(NK PEM) on every quote, a TPM clock that moves forward, and V decrypted with the NK
 * as the agent does. Quotes are signed by src/quote's software signer in the exact TPM
 * byte formats; nothing here is a TPM (integration tests use swtpm).
 */
import { constants, createHash, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';
import type { ClockInfo } from '../../src/quote/attest.js';
import { templateData, type ImaEntry } from '../../src/ima/index.js';
import { parseTpm2bPublic } from '../../src/quote/public.js';
import { signSoftwareQuote, softwareAkPublic } from '../../src/quote/synthetic.js';

export interface SoftQuoteRequest {
  nonce: string;
  mask: string;
  partial: 0 | 1;
  imaMlEntry?: number;
}

const keyCache: KeyObject[][] = [];

/** RSA key pairs are slow to make; tests share a few. */
function keyPair(slot: number): { privateKey: KeyObject; publicKey: KeyObject } {
  keyCache[slot] ??= (() => {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return [k.privateKey, k.publicKey];
  })();
  const [privateKey, publicKey] = keyCache[slot]!;
  return { privateKey: privateKey!, publicKey: publicKey! };
}

export class SoftAgent {
  readonly akPrivate: KeyObject;
  /** Keylime's ak_tpm (b64 TPM2B_PUBLIC). */
  readonly akTpm: string;
  readonly nkPrivate: KeyObject;
  /** The NK PEM exactly as the agent returns it in `pubkey`. */
  nkPem: string;
  /** sha256 bank, PCRs 0-23. */
  readonly pcrs = new Map<number, Buffer>();
  clock: ClockInfo = { clock: 10_000, resetCount: 3, restartCount: 0, safe: 1 };
  /** Every V received through /keys/vkey, decrypted. */
  readonly vkeys: Buffer[] = [];
  /** What goes into PCR 16 (default: the NK PEM); a test sets another text to break the binding. */
  boundPem: string | undefined;
  /** The IMA ASCII measurement list, one line per measured file. */
  readonly imaLines: string[] = [];
  /** The UEFI event log (sent as mb_measurement_list when PCR 0 is quoted). */
  eventLog: Buffer | undefined;
  boottime = 1_700_000_000;
  /** Returns pubkey even for partial=1 (some agents do). */
  ignorePartial = false;
  private readonly qualifiedSigner: Buffer;

  constructor(readonly id: string, keySlot = 0) {
    const ak = keyPair(keySlot * 2);
    const nk = keyPair(keySlot * 2 + 1);
    this.akPrivate = ak.privateKey;
    this.akTpm = softwareAkPublic(ak.publicKey, 'sha256').toString('base64');
    this.qualifiedSigner = parseTpm2bPublic(Buffer.from(this.akTpm, 'base64')).name;
    this.nkPrivate = nk.privateKey;
    this.nkPem = nk.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    for (let i = 0; i < 24; i++) this.pcrs.set(i, Buffer.alloc(32));
  }

  /** tpm2_pcrextend: PCR = sha256(PCR || digest). */
  extend(pcr: number, digest: Buffer): void {
    this.pcrs.set(pcr, createHash('sha256').update(this.pcrs.get(pcr)!).update(digest).digest());
  }

  /** What the kernel does when IMA measures a file (ima-ng, sha256 file digest): log line + PCR 10 extend. */
  measure(path: string, content = path): void {
    const digest = createHash('sha256').update(content).digest('hex');
    const entry: ImaEntry = { pcr: '10', templateHash: '', template: 'ima-ng', digestAlg: 'sha256', digest, name: path, signature: '', buffer: '' };
    const data = templateData(entry);
    this.imaLines.push(`10 ${createHash('sha1').update(data).digest('hex')} ima-ng sha256:${digest} ${path}\n`);
    this.extend(10, createHash('sha256').update(data).digest());
  }

  /** The agent's PCR 16 handling before each quote: reset, then extend with H(NK PEM). */
  private bindNk(): void {
    this.pcrs.set(16, Buffer.alloc(32));
    this.extend(16, createHash('sha256').update(this.boundPem ?? this.nkPem).digest());
  }

  /** The `results` of GET /quotes/integrity. */
  integrity(req: SoftQuoteRequest): Record<string, unknown> {
    this.bindNk();
    const bits = parseInt(req.mask.replace(/^0x/, ''), 16) | (1 << 16);
    const selected = new Map<number, Buffer>();
    for (let i = 0; i < 24; i++) if (bits & (1 << i)) selected.set(i, this.pcrs.get(i)!);
    this.clock = { ...this.clock, clock: this.clock.clock + 1000 };
    const q = signSoftwareQuote({ privateKey: this.akPrivate, hashAlg: 'sha256', nonce: req.nonce, pcrs: selected, clock: this.clock, qualifiedSigner: this.qualifiedSigner });
    const results: Record<string, unknown> = { quote: q.quote, hash_alg: 'sha256', enc_alg: 'rsa', sign_alg: 'rsassa' };
    if (req.partial === 0 || this.ignorePartial) results.pubkey = this.nkPem;
    if (this.imaLines.length > 0) {
      // As the Rust agent: past the end of the log means the whole log from entry 0.
      const entry = (req.imaMlEntry ?? 0) <= this.imaLines.length ? (req.imaMlEntry ?? 0) : 0;
      results.ima_measurement_list = this.imaLines.slice(entry).join('');
      results.ima_measurement_list_entry = entry;
      results.boottime = this.boottime;
    }
    if (this.eventLog && bits & 1) results.mb_measurement_list = this.eventLog.toString('base64');
    return results;
  }

  /** POST /keys/vkey: RSA-OAEP-SHA1 decrypt with the NK. */
  receiveV(encryptedKeyB64: string): void {
    this.vkeys.push(
      privateDecrypt({ key: this.nkPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(encryptedKeyB64, 'base64')),
    );
  }
}
