/**
 * A list given as one text goes through the replay's fast lane (ima-ng lines read from
 * bytes, policy lookups batched through the digest index); given as an array of lines
 * it goes through the general tokeniser line by line. Both must give the same verdict,
 * events (ids, contexts, order, lines), PCR match and next state for any list. These
 * tests compare them on thousands of randomly mixed lines of every kind.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildImaSignature,
  compileRuntimePolicy,
  emptyRuntimePolicy,
  keyidV2,
  replayImaLog,
  type HashAlg,
  type ImaAttestationState,
  type ImaReplayOptions,
  type RuntimePolicy,
} from '../../../src/ima/index.js';
import { DigestIndex } from '../../../src/ima/digest-index.js';
import { HashLanes } from '../../../src/crypto/hash-lanes.js';
import { parseImaLine, type ImaEntry } from '../../../src/ima/entry.js';
import { templateData } from '../../../src/ima/template.js';
import { FastNgReader } from '../../../src/ima/fast-ng.js';
import { bufLine, imaLine, ngLine, sigLine } from './handbuilt.js';
import { seededRandom } from '../../support/prng.js';


const digestOf = (alg: string, content: string) => crypto.createHash(alg).update(content).digest();

const signer = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const signerDer = signer.publicKey.export({ type: 'spki', format: 'der' });

/** One scenario: a policy and a generator of lines in every shape the replay meets. */
function scenario(seed: number, logAlg: HashAlg) {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const p: RuntimePolicy = emptyRuntimePolicy();
  p.ima.log_hash_alg = logAlg;
  p.excludes = ['/tmp/.*', '/var/log/'];
  p.keyrings['.ima'] = [crypto.createHash('sha256').update(signerDer).digest('hex')];

  const names = Array.from({ length: 40 }, (_, i) => pick(['/usr/bin/', '/usr/lib64/', '/opt/app/', '/srv/']) + `f${i}` + pick(['', '.so', ' with space', '\r', ':colon']));
  names.push('/usr/share/café', '/usr/share/\u4e2d\u6587', '/usr/share/emoji-\u{1f600}', 'boot_aggregate');
  for (const [i, n] of names.entries()) {
    const d = digestOf('sha256', `content ${n}`).toString('hex');
    if (i % 7 === 0) p.digests[n] = [digestOf('sha256', 'old').toString('hex'), d];
    else if (i % 11 === 0) p.digests[n] = [d.toUpperCase()]; // never matches: Keylime compares lowercase
    else if (i % 5 !== 4) p.digests[n] = [d];
  }

  const flipHexCase = (line: string, field: number) => {
    const parts = line.split(' ');
    parts[field] = parts[field]!.toUpperCase();
    return parts.join(' ');
  };
  const kinds: (() => string)[] = [
    // The fast lane's bread and butter, listed or not, in the policy's order or not.
    () => ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg).line,
    () => ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg).line,
    () => ngLine('sha256', digestOf('sha256', `other ${rnd()}`), pick(names), logAlg).line,
    () => ngLine(pick(['sha1', 'sha512', 'md5', 'sm3-256']), digestOf('sha1', `x${rnd()}`), pick(names), logAlg).line,
    () => ngLine('sha256', digestOf('sha256', 'tmp'), `/tmp/build-${Math.floor(rnd() * 9)}`, logAlg).line,
    () => ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg, pick(['11', '010', '1'])).line,
    () => flipHexCase(ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg).line, pick([1, 3])),
    // A violation, a wrong template hash, a digest with odd hex.
    () => `10 ${'0'.repeat(logAlg === 'sha1' ? 40 : 64)} ima-ng sha256:${digestOf('sha256', 'v').toString('hex')} ${pick(names)}`,
    () => ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg).line.replace(/^10 (.)/, (_, c: string) => `10 ${c === 'a' ? 'b' : 'a'}`),
    () => ngLine('sha256', digestOf('sha256', 'z'), pick(names), logAlg).line.replace(/sha256:(..)/, 'sha256:$1 '),
    // Other templates, keys learned from ima-buf and signatures that need them.
    () => imaLine(digestOf('sha1', `legacy ${rnd()}`), pick(names.slice(0, 10)), logAlg).line,
    () => bufLine('sha256', signerDer, '.ima', logAlg).line,
    () => {
      const content = `signed ${Math.floor(rnd() * 4)}`;
      const raw = crypto.sign('sha256', Buffer.from(content), { key: signer.privateKey, dsaEncoding: 'der' });
      return sigLine('sha256', digestOf('sha256', content), `/usr/bin/signed-${content.at(-1)}`, buildImaSignature('sha256', keyidV2(signer.publicKey), raw), logAlg).line;
    },
    () => sigLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), null, logAlg).line,
    // Damage: truncations, stray bytes, a lone surrogate, nothing at all.
    () => {
      const l = ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg).line;
      return l.slice(0, Math.floor(rnd() * l.length));
    },
    () => {
      const l = ngLine('sha256', digestOf('sha256', `content ${pick(names)}`), pick(names), logAlg).line;
      const at = Math.floor(rnd() * l.length);
      return l.slice(0, at) + pick(['\u00e9', '\ud800', ' ', ':', 'G', '\t', '\u0000', '\u{1f600}']) + l.slice(at + 1);
    },
    () => '',
  ];
  return {
    policy: compileRuntimePolicy(p),
    lines: (n: number) => Array.from({ length: n }, () => pick(kinds)()),
    rnd,
  };
}

function bothWays(lines: string[], options: ImaReplayOptions) {
  const asText = replayImaLog(lines.join('\n') + '\n', options);
  const asLines = replayImaLog(lines, options);
  return { asText, asLines };
}

describe('replay: the text fast lane and the line-by-line path agree', () => {
  for (const [logAlg, bank] of [
    ['sha256', 'sha256'],
    ['sha1', 'sha256'],
    ['sha1', 'sha1'],
    ['sha256', 'sha384'],
  ] as [HashAlg, HashAlg][]) {
    it(`random mixed lists, template hashes in ${logAlg}, PCR bank ${bank}`, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const s = scenario(seed * 7919 + logAlg.length, logAlg);
        const lines = s.lines(200 + Math.floor(s.rnd() * 700));
        // Quote a random prefix, so matching and state progress are compared too.
        const k = Math.floor(s.rnd() * lines.length);
        const quoted = replayImaLog(lines.slice(0, k), { bank, policy: s.policy }).runningPcr10;
        const reportTomtou = seed % 2 === 0;
        const { asText, asLines } = bothWays(lines, { bank, policy: s.policy, quotedPcr10: quoted, reportTomtou, startEntry: 5 });
        expect(asText).toEqual(asLines);
        expect(asText.pcrMatchLine).not.toBeNull();
      }
    });
  }

  it('long runs of fast-lane lines across many lookup batches, with failures and other lines in between', () => {
    const s = scenario(4242, 'sha256');
    const good = Array.from({ length: 3000 }, (_, i) => ngLine('sha256', digestOf('sha256', `g${i}`), `/usr/lib/g${i}.so`, 'sha256').line);
    const p = compileRuntimePolicy({
      ...s.policy.policy,
      digests: { ...s.policy.policy.digests, ...Object.fromEntries(good.map((l) => [l.split(' ')[4]!, [l.split(' ')[3]!.slice(7)]])) },
    });
    const mixed = [...good];
    for (const at of [0, 255, 256, 257, 1000, 2047, 2999]) mixed.splice(at, 0, ...s.lines(3));
    const quoted = replayImaLog(mixed, { bank: 'sha256', policy: p }).runningPcr10;
    const { asText, asLines } = bothWays(mixed, { bank: 'sha256', policy: p, quotedPcr10: quoted });
    expect(asText).toEqual(asLines);
    expect(asText.pcrMatchLine).toBe(mixed.length);
  });

  it('paths longer than the hash lanes take (up to 20,000 bytes) between fast-lane lines: the same verdicts', () => {
    const names = ['/usr/lib/a', '/x/' + 'y'.repeat(8100), '/usr/lib/b', '/x/' + 'z'.repeat(20_000), '/usr/lib/c'];
    const lines = names.map((n) => ngLine('sha256', digestOf('sha256', n), n, 'sha256').line);
    const p = emptyRuntimePolicy();
    p.ima.log_hash_alg = 'sha256';
    for (const n of names.slice(0, 4)) p.digests[n] = [digestOf('sha256', n).toString('hex')];
    const policy = compileRuntimePolicy(p);
    const quoted = replayImaLog(lines, { bank: 'sha256', policy }).runningPcr10;
    const { asText, asLines } = bothWays(lines, { bank: 'sha256', policy, quotedPcr10: quoted });
    expect(asText).toEqual(asLines);
    expect(asText.pcrMatchLine).toBe(5);
    expect(asText.failures.map((f) => f.id)).toEqual(['ima.validation.ima-ng.not_in_allowlist']);
  });

  it('incremental rounds give the same states whichever way the lines come', () => {
    const s = scenario(99, 'sha1');
    const lines = s.lines(600).filter((l) => l !== '');
    let stateText: ImaAttestationState | undefined;
    let stateLines: ImaAttestationState | undefined;
    for (let from = 0; from < lines.length; from += 150) {
      const round = lines.slice(from, from + 150);
      const quoted = replayImaLog(lines.slice(0, from + 100), { bank: 'sha256', policy: s.policy }).runningPcr10;
      const a = replayImaLog(round.join('\n'), { bank: 'sha256', policy: s.policy, quotedPcr10: quoted, state: stateText });
      const b = replayImaLog(round, { bank: 'sha256', policy: s.policy, quotedPcr10: quoted, state: stateLines });
      expect(a).toEqual(b);
      stateText = a.newState;
      stateLines = b.newState;
    }
  });

  it('non-ASCII names between fast-lane lines: the same verdicts as line by line', () => {
    const names = ['/a/café', '/a/\u{1f600}x', '/a/\ud800', '/a/plain'];
    const lines = names.flatMap((n, i) => [ngLine('sha256', digestOf('sha256', n), n, 'sha256').line, ngLine('sha256', digestOf('sha256', `p${i}`), `/p/${i}`, 'sha256').line]);
    const p = emptyRuntimePolicy();
    p.ima.log_hash_alg = 'sha256';
    for (const l of lines) p.digests[l.split(' ').slice(4).join(' ')] = [l.split(' ')[3]!.slice(7)];
    const policy = compileRuntimePolicy(p);
    const { asText, asLines } = bothWays(lines, { bank: 'sha256', policy });
    expect(asText).toEqual(asLines);
    // The lone surrogate cannot be rebuilt as UTF-8: reported, as Keylime does; the rest pass.
    expect(asText.failures.map((f) => f.id)).toEqual(['ima.parser.entry']);
    expect(asText.failures[0]!.line).toBe(4);
  });

  // Equal verdicts would also hold if the fast lane never fired; this pins that it does.
  it('the fast lane takes plain ima-ng lines, after non-ASCII ones too, and the digest index finds exactly the listed pairs', () => {
    const names = Array.from({ length: 12 }, (_, i) => '/usr/lib/x'.padEnd(10 + i, 'y')); // every name length mod 8
    const lines = names.map((n) => ngLine('sha256', digestOf('sha256', n), n, 'sha1').line);
    const map = new Map(names.map((n) => [n, [digestOf('sha256', n).toString('hex')]]));
    map.set('/usr/lib/two', ['ab'.repeat(32), digestOf('sha256', '/usr/lib/two').toString('hex')]);
    lines.push(ngLine('sha256', digestOf('sha256', '/usr/lib/two'), '/usr/lib/two', 'sha1').line);
    // sha1 and sha512 digests are indexed under their algorithm; an sm3-256 line is left to the full checker.
    map.set('/usr/lib/sha1', [digestOf('sha1', 'x').toString('hex')]);
    lines.push(ngLine('sha1', digestOf('sha1', 'x'), '/usr/lib/sha1', 'sha1').line);
    map.set('/usr/lib/sha512', [digestOf('sha512', 'x').toString('hex')]);
    lines.push(ngLine('sha512', digestOf('sha512', 'x'), '/usr/lib/sha512', 'sha1').line);
    const index = new DigestIndex(map);
    expect(index.size).toBe(names.length + 4);

    const prefix = ngLine('sha256', digestOf('sha256', 'x'), '/usr/share/caf\u00e9', 'sha1').line + '\n';
    const text = prefix + lines.join('\n');
    // The list's bytes, then hash lanes for its template data: the reader works in one memory.
    const lanes = new HashLanes();
    const base = lanes.input(Buffer.byteLength(text));
    lanes.bytes.set(Buffer.from(text, 'utf8'), base);
    const reader = new FastNgReader(lanes.bytes, lanes.view);
    expect(reader.read(base, 0, prefix.length - 1, 40, lanes.cursor, lanes.room())).toBe(false);
    const shift = base + Buffer.byteLength(prefix) - prefix.length;
    let start = prefix.length;
    for (const line of lines) {
      const at = lanes.cursor;
      expect(reader.read(shift, start, start + line.length, 40, at, lanes.room())).toBe(true);
      // Its template data is written where asked, as the general encoder writes it.
      expect(Buffer.from(lanes.bytes.subarray(at, at + reader.templateLength))).toEqual(templateData(parseImaLine(line) as ImaEntry));
      // Not where it would not fit.
      expect(reader.read(shift, start, start + line.length, 40, at, reader.templateLength - 1)).toBe(false);
      lanes.add(reader.templateLength);
      start += line.length + 1;
    }
    // Unlisted pairs: a listed name with another digest, a listed digest under another name, an sm3-256 line.
    const unlisted = [
      ngLine('sha256', digestOf('sha256', 'other'), names[0]!, 'sha1'),
      ngLine('sha256', digestOf('sha256', names[0]!), names[1]!, 'sha1'),
      ngLine('sm3-256', digestOf('sha256', names[0]!), names[0]!, 'sha1'),
    ];
    for (const u of unlisted) {
      const td = templateData(parseImaLine(u.line) as ImaEntry);
      lanes.bytes.set(td, lanes.cursor);
      lanes.add(td.length);
    }
    lanes.hashAll();
    for (let i = 0; i < lines.length; i++) expect(index.listed(lanes.view, lanes.digestOffset(i)), lines[i]).toBe(true);
    for (let i = 0; i < unlisted.length; i++) expect(index.listed(lanes.view, lanes.digestOffset(lines.length + i))).toBe(false);
  });
});
