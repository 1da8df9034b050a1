import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { KeylimeError, ParseError } from '../errors.js';
import {
  SIGNATURE_SCHEME_NAMES,
  buildTpmPolicy,
  decodeBase64Strict,
  describeEvent,
  parsePyJson,
  parseTpm2bPublic,
  parseTpmPolicy,
  signingKeyFromPem,
  verifyQuote,
  type QuoteVerdict,
  type SigningKey,
  type TpmPolicy,
} from '../quote/index.js';
import { action, paint, printJson, printLine } from './output.js';

interface VerifyFlags {
  quote: string;
  ak: string;
  nonce: string;
  hashAlg?: string;
  tpmPolicy?: string;
  dataPubkey?: string;
  json?: boolean;
}

function readInput(path: string, what: string): Buffer {
  try {
    return path === '-' ? readFileSync(0) : readFileSync(path);
  } catch (e) {
    throw new KeylimeError('invalid_input', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ParseError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ParseError(`${what} must be a JSON object`);
  const results = (v as Record<string, unknown>).results;
  // A whole Keylime envelope {code, status, results} is accepted as well as its results.
  return typeof results === 'object' && results !== null && !Array.isArray(results) ? (results as Record<string, unknown>) : (v as Record<string, unknown>);
}

interface QuoteInput {
  quote: string;
  hashAlg?: string;
  pubkey?: string;
}

/** The quote string, or an agent's /quotes response (envelope or results) holding quote, hash_alg and pubkey. */
function readQuote(path: string): QuoteInput {
  const text = readInput(path, 'quote').toString('utf8').trim();
  if (!text.startsWith('{')) return { quote: text };
  const obj = parseJsonObject(text, 'quote response');
  if (typeof obj.quote !== 'string') throw new ParseError('the quote response has no "quote" string');
  return {
    quote: obj.quote,
    hashAlg: typeof obj.hash_alg === 'string' ? obj.hash_alg : undefined,
    pubkey: typeof obj.pubkey === 'string' ? obj.pubkey : undefined,
  };
}

/** A PEM public key, Keylime's base64 aik_tpm (or a registrar record holding it), or binary TPM2B_PUBLIC. */
export function readAk(bytes: Buffer): SigningKey {
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) return signingKeyFromPem(text);
  if (/^[\x20-\x7e\s]*$/.test(text)) {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      const obj = parseJsonObject(trimmed, 'AK file');
      const b64 = obj.aik_tpm ?? obj.ak_tpm;
      if (typeof b64 !== 'string') throw new ParseError('the AK file JSON has no "aik_tpm" or "ak_tpm" string');
      return parseTpm2bPublic(decodeBase64Strict(b64, 'aik_tpm'));
    }
    return parseTpm2bPublic(decodeBase64Strict(trimmed.replace(/\s+/g, ''), 'AK'));
  }
  return parseTpm2bPublic(bytes);
}

/** Inline JSON or a file; with "mask" it is a stored (wire) policy, without it a tenant-style policy to build. */
function readTpmPolicy(value: string): TpmPolicy {
  const text = value.trimStart().startsWith('{') ? value : readInput(value, 'tpm_policy').toString('utf8');
  const doc = parsePyJson(text);
  return doc instanceof Map && doc.has('mask') ? parseTpmPolicy(text) : buildTpmPolicy(text);
}

function report(verdict: QuoteVerdict, flags: VerifyFlags, checks: { dataPcr: boolean; tpmPolicy: boolean }): void {
  const sigAlg = SIGNATURE_SCHEME_NAMES[verdict.signature.sigAlg] ?? `0x${verdict.signature.sigAlg.toString(16)}`;
  if (flags.json) {
    printJson({
      valid: verdict.valid,
      failures: verdict.failures.map((f) => ({ event_id: f.eventId, recoverable: f.recoverable, context: f.context })),
      hash_alg: verdict.hashAlg ?? null,
      sign_alg: sigAlg,
      pcrs: verdict.pcrs,
      clock: verdict.attest.clockInfo,
      checked: ['signature', 'nonce', 'pcr_digest', 'clock', ...(checks.dataPcr ? ['data_pcr'] : []), ...(checks.tpmPolicy ? ['tpm_policy'] : [])],
    });
  }
  for (const f of verdict.failures) process.stderr.write(`keylime-ts: quote invalid: ${describeEvent(f)} [${f.eventId}]\n`);
  if (flags.json || !verdict.valid) return;
  const pcrList = Object.keys(verdict.pcrs).join(',');
  const c = verdict.attest.clockInfo;
  printLine(paint.ok('Quote is valid.'));
  printLine(`  ${sigAlg} signature by the AK over ${verdict.hashAlg} PCRs ${pcrList}; nonce and PCR digest match`);
  printLine(`  TPM clock ${c.clock} ms, resetCount ${c.resetCount}, restartCount ${c.restartCount}, safe ${c.safe}`);
  printLine(`  PCR 16 ${checks.dataPcr ? 'binds the given public key' : paint.warn('not checked (no --data-pubkey)')}`);
  printLine(`  tpm_policy ${checks.tpmPolicy ? 'satisfied' : paint.warn('not checked (no --tpm-policy)')}`);
  for (const [pcr, value] of Object.entries(verdict.pcrs)) printLine(`  ${paint.dim(`PCR ${pcr.padStart(2)}`)} ${value}`);
}

export function registerQuote(program: Command): void {
  const quote = program.command('quote').description('check TPM quotes offline, exactly as the verifier and tenant do');
  quote
    .command('verify')
    .description(
      'verify a Keylime quote: AK signature (RSASSA or ECDSA), nonce, PCR digest, TPM clock (fresh state, as the ' +
        'tenant), and optionally PCR 16 against the agent public key and a tpm_policy',
    )
    .requiredOption('--quote <file|->', 'the quote string r<b64>:<b64>:<b64>, or an agent /quotes JSON response; "-" reads stdin')
    .requiredOption('--ak <file>', "the AK: binary TPM2B_PUBLIC, its base64 (Keylime's aik_tpm), a registrar JSON record, or a PEM public key")
    .requiredOption('--nonce <string>', 'the nonce the quote was requested with')
    .option('--hash-alg <alg>', 'the hash_alg the agent declared: sha1, sha256, sha384 or sha512 (default: from the response, else sha256)')
    .option('--tpm-policy <json|file>', 'PCR allowlist: tenant form {"15": ["<hex>"]} or a stored tpm_policy with "mask"')
    .option('--data-pubkey <file>', "the agent's public key PEM exactly as returned (checks PCR 16; default: the response's pubkey)")
    .option('--json', 'print one JSON document: {valid, failures: [{event_id, recoverable, context}], hash_alg, sign_alg, pcrs, clock, checked}')
    .addHelpText(
      'after',
      [
        '',
        'Exit status: 0 the quote is valid, 1 it is not (reasons on stderr), 2 the input cannot be read or decoded.',
        '',
        'Examples:',
        '  keylime-ts quote verify --quote quote.txt --ak aik_tpm.b64 --nonce 1TsTFyJiUkovDGMr7fbq --data-pubkey nk.pem',
        '  curl -s "https://agent:9002/v2.1/quotes/identity?nonce=abc123" | \\',
        '    keylime-ts quote verify --quote - --ak ak.pub --nonce abc123 --tpm-policy \'{"15": ["0000...0000"]}\' --json',
      ].join('\n'),
    )
    .action(
      action((flags: VerifyFlags) => {
        const input = readQuote(flags.quote);
        const ak = readAk(readInput(flags.ak, 'AK'));
        const hashAlg = flags.hashAlg ?? input.hashAlg ?? 'sha256';
        if (!['sha1', 'sha256', 'sha384', 'sha512'].includes(hashAlg)) {
          throw new KeylimeError('usage', `--hash-alg must be sha1, sha256, sha384 or sha512, not ${JSON.stringify(hashAlg)}`);
        }
        const tpmPolicy = flags.tpmPolicy === undefined ? undefined : readTpmPolicy(flags.tpmPolicy);
        const dataPubkeyPem = flags.dataPubkey !== undefined ? readInput(flags.dataPubkey, 'public key').toString('utf8') : input.pubkey;
        const verdict = verifyQuote({ quote: input.quote, ak, nonce: flags.nonce, hashAlg, tpmPolicy, dataPubkeyPem });
        report(verdict, flags, { dataPcr: dataPubkeyPem !== undefined, tpmPolicy: tpmPolicy !== undefined });
        return verdict.valid ? 0 : 1;
      }),
    );
}
