import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  IMA_EVENT,
  compileRuntimePolicy,
  decodeDssePayload,
  emptyRuntimePolicy,
  initialImaState,
  isLineError,
  keyFromBytes,
  parseImaLine,
  parseRuntimePolicy,
  parseVerificationKeys,
  replayImaLog,
  verifyImaSignature,
  ImaKeyring,
} from '../../../src/ima/index.js';
import { KeylimeError } from '../../../src/errors.js';
import { bufLine, fileDigest, imaLine, ngLine, sigLine } from './handbuilt.js';
import { KEYRING_LINE, SIGNATURES } from './fixtures/keylime-vectors.js';

let seed = 0x5eed;
function rand(n: number): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed % n;
}

function mutate(line: string): string {
  const chars = [...line];
  switch (rand(6)) {
    case 0:
      return line.slice(0, rand(line.length + 1));
    case 1: {
      const i = rand(chars.length);
      chars[i] = String.fromCharCode(chars[i]!.charCodeAt(0) ^ (1 << rand(7)));
      return chars.join('');
    }
    case 2: {
      const i = rand(chars.length + 1);
      chars.splice(i, 0, ' :\t\u0000zé\ud800'[rand(7)]!);
      return chars.join('');
    }
    case 3: {
      chars.splice(rand(chars.length), 1 + rand(4));
      return chars.join('');
    }
    case 4:
      return line.replace(' ', '  ');
    default:
      return line.replace(/ima(-ng|-sig|-buf)?/, ['ima', 'ima-ng', 'ima-sig', 'ima-buf', 'ima-modsig'][rand(5)]!);
  }
}

const seeds = [
  imaLine(fileDigest('sha1', 'a'), '/usr/bin/a').line,
  ngLine('sha256', fileDigest('sha256', 'b'), '/usr/lib/b').line,
  sigLine('sha256', fileDigest('sha256', 'c'), '/usr/lib/c', Buffer.from('030204aabbccdd000401020304', 'hex')).line,
  bufLine('sha256', Buffer.from('5.14'), 'kernel_version').line,
  KEYRING_LINE,
  ...SIGNATURES,
];

const policy = (() => {
  const p = emptyRuntimePolicy();
  p.excludes = ['/usr/lib/'];
  p.keyrings['.ima'] = ['a7d52aaa18c23d2d9bb2abb4308c0eeee67387a42259f4a6b1a42257065f3d5a'];
  return compileRuntimePolicy(p);
})();

describe('robustness: hostile measurement lists', () => {
  it('12,000 mutated lines: every line is an entry or an ima.parser.entry event, never an exception', () => {
    const mutated: string[] = [];
    for (let i = 0; i < 12_000; i++) {
      let l = seeds[rand(seeds.length)]!;
      for (let k = 0, n = 1 + rand(3); k < n; k++) l = mutate(l);
      mutated.push(l.replace(/\n/g, ''));
    }
    const unparsable = new Set<number>();
    mutated.forEach((l, i) => {
      const p = parseImaLine(l);
      if (l !== '' && isLineError(p)) unparsable.add(i);
    });
    expect(unparsable.size).toBeGreaterThan(1000);
    expect(unparsable.size).toBeLessThan(mutated.length);
    for (let start = 0; start < mutated.length; start += 1000) {
      const chunk = mutated.slice(start, start + 1000);
      const r = replayImaLog(chunk.join('\n'), { bank: 'sha256', quotedPcr10: '00'.repeat(32), policy, state: initialImaState(), reportTomtou: true });
      const parserLines = r.failures.filter((f) => f.id === IMA_EVENT.parserEntry).map((f) => f.line! + start);
      expect(parserLines).toEqual([...unparsable].filter((i) => i >= start && i < start + 1000));
      for (const f of r.failures) expect(Object.values(IMA_EVENT)).toContain(f.id);
    }
  });

  it('random bytes as a list, every truncation of a valid list, and odd inputs never throw', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = crypto.randomBytes(rand(600));
      for (const text of [bytes.toString('latin1'), bytes.toString('utf8'), bytes.toString('hex')]) {
        const r = replayImaLog(text, { bank: (['sha1', 'sha256', 'sha384', 'sha512'] as const)[rand(4)]!, quotedPcr10: 'zz', policy });
        expect(r.ok).toBe(false);
      }
    }
    const valid = seeds.join('\n');
    for (let n = 0; n <= valid.length; n += 3) replayImaLog(valid.slice(0, n), { bank: 'sha1', quotedPcr10: '00'.repeat(20), policy });
    const weird = { ...initialImaState(), pcr10: 'not hex', nextEntry: -5 };
    expect(() => replayImaLog(['\n\n', '10', 'x'.repeat(100_000)], { bank: 'sha256', quotedPcr10: 'ab', state: weird })).not.toThrow();
  });

  it('stays linear on lines that lack separators (no quadratic rescans)', () => {
    const noSpaces = 'x'.repeat(30) + '\n';
    const noColons = `10 ${'ab'.repeat(20)} ima-ng ${'cd'.repeat(25)} /no/colon\n`;
    for (const unit of [noSpaces, noColons]) {
      const text = unit.repeat(100_000);
      const t = performance.now();
      const r = replayImaLog(text, { bank: 'sha1' });
      expect(r.failures).toHaveLength(100_000);
      // A quadratic scan of this input takes minutes; linear takes well under a second.
      expect(performance.now() - t).toBeLessThan(4000);
    }
  });

  it('keys, signatures, verification-keys, policies and DSSE payloads fail only with typed errors', () => {
    const ring = new ImaKeyring();
    ring.add(crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey, 0x01020304);
    for (let i = 0; i < 500; i++) {
      const b = crypto.randomBytes(rand(300));
      if (rand(2)) b[0] = 0x30;
      expect(() => keyFromBytes(b)).not.toThrow();
      const sig = Buffer.concat([Buffer.from([3, 2, 4, 1, 2, 3, 4]), crypto.randomBytes(2 + rand(80))]);
      expect(verifyImaSignature(sig, crypto.randomBytes(32), 'sha256', [ring])).toBe(false);
      const text = b.toString('latin1');
      for (const fn of [() => parseRuntimePolicy(text), () => parseVerificationKeys(text), () => decodeDssePayload(text)]) {
        try {
          fn();
        } catch (e) {
          expect(e).toBeInstanceOf(KeylimeError);
        }
      }
    }
  });
});
