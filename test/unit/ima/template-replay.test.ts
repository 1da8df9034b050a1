import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IMA_EVENT, compileRuntimePolicy, emptyRuntimePolicy, isLineError, parseImaLine, replayImaLog, templateData, type HashAlg, type ImaEntry } from '../../../src/ima/index.js';
import { bufLine, fileDigest, imaLine, ngLine, replayPcr, sha, sigLine, type HandLine } from './handbuilt.js';
import { MEASUREMENTS, MEASUREMENTS_SHA1_PCR, MEASUREMENTS_SHA256_FINAL, VIOLATION_SHA1, VIOLATION_SHA256 } from './fixtures/keylime-vectors.js';

const BANKS: HashAlg[] = ['sha1', 'sha256', 'sha384', 'sha512'];

function allowAll(lines: HandLine[], logAlg: HashAlg = 'sha1') {
  const p = emptyRuntimePolicy();
  p.ima.log_hash_alg = logAlg;
  p.excludes = ['.*'];
  return compileRuntimePolicy(p);
}

function handLines(logAlg = 'sha1'): Record<string, HandLine> {
  const sig = Buffer.concat([Buffer.from('030204deadbeef0004', 'hex'), Buffer.from('01020304', 'hex')]);
  return {
    ima: imaLine(fileDigest('sha1', 'kmod'), '/usr/bin/kmod', logAlg),
    'ima-ng sha1': ngLine('sha1', fileDigest('sha1', 'systemd'), '/usr/lib/systemd/systemd', logAlg),
    'ima-ng sha256 with spaces': ngLine('sha256', fileDigest('sha256', 'x'), '/opt/my app/run me', logAlg),
    'ima-ng utf8 name': ngLine('sha512', fileDigest('sha512', 'y'), '/home/zoë/日本', logAlg),
    'ima-sig unsigned': sigLine('sha256', fileDigest('sha256', 'usb'), '/lib/modules/usb-common.ko', null, logAlg),
    'ima-sig signed': sigLine('sha256', fileDigest('sha256', 'zmore'), '/usr/bin/zmore', sig, logAlg),
    'ima-buf': bufLine('sha256', Buffer.from('5.14.0-1\n'), 'kernel_version', logAlg),
  };
}

describe('template data reconstruction (spec §1.2)', () => {
  for (const [label, hand] of Object.entries(handLines())) {
    it(`rebuilds ${label} byte for byte`, () => {
      const parsed = parseImaLine(hand.line);
      expect(isLineError(parsed)).toBe(false);
      expect(templateData(parsed as ImaEntry).toString('hex')).toBe(hand.templateData.toString('hex'));
    });
  }

  it('pads a legacy ima name to exactly 256 bytes and rejects names over 255 bytes', () => {
    const ok = imaLine(fileDigest('sha1', 'a'), 'n'.repeat(255));
    expect(templateData(parseImaLine(ok.line) as ImaEntry).length).toBe(20 + 256);
    const tooLong = `10 ${'00'.repeat(20)} ima ${fileDigest('sha1', 'a').toString('hex')} ${'n'.repeat(256)}`;
    expect(isLineError(parseImaLine(tooLong))).toBe(true);
  });

  it('infers sha1 or md5 from a bare digest and rejects other lengths', () => {
    const md5 = parseImaLine(`10 ${'11'.repeat(20)} ima-ng ${'ab'.repeat(16)} /x`) as ImaEntry;
    expect(md5.digestAlg).toBe('md5');
    expect(templateData(md5).subarray(4, 9).toString()).toBe('md5:\0');
    expect(isLineError(parseImaLine(`10 ${'11'.repeat(20)} ima-ng ${'ab'.repeat(17)} /x`))).toBe(true);
  });

  it('accepts hex the way Python bytes.fromhex does (case, whitespace between pairs)', () => {
    const e = parseImaLine(`10 ${'AB'.repeat(20)} ima-ng sha1:${'Cd'.repeat(10)}\t${'cd'.repeat(10)} /x`) as ImaEntry;
    expect(e.templateHash).toBe('ab'.repeat(20));
    expect(e.digest).toBe('cd'.repeat(20));
    expect(isLineError(parseImaLine(`10 ${'a b'} ima-ng sha1:${'cd'.repeat(20)} /x`))).toBe(true);
  });
});

describe('template hash and PCR 10 replay', () => {
  for (const logAlg of ['sha1', 'sha256'] as HashAlg[]) {
    for (const bank of BANKS) {
      it(`replays every template in the ${bank} bank with log_hash_alg ${logAlg}`, () => {
        const lines = Object.values(handLines(logAlg));
        const expected = replayPcr(bank, lines.map((l) => sha(bank, l.templateData)));
        const r = replayImaLog(lines.map((l) => l.line).join('\n') + '\n', { bank, quotedPcr10: expected.toString('hex'), policy: allowAll(lines, logAlg) });
        expect(r.failures).toEqual([]);
        expect(r.ok).toBe(true);
        expect(r.pcrMatchLine).toBe(lines.length);
        expect(r.runningPcr10).toBe(expected.toString('hex'));
      });
    }
  }

  it("reproduces Keylime's MEASUREMENTS vector in the sha1 and sha256 banks", () => {
    for (let n = 1; n <= 3; n++) {
      const r = replayImaLog(MEASUREMENTS.slice(0, n), { bank: 'sha1', quotedPcr10: MEASUREMENTS_SHA1_PCR[n - 1]!, policy: allowAll([]) });
      expect(r.ok).toBe(true);
      expect(r.pcrMatchLine).toBe(n);
    }
    const r = replayImaLog(MEASUREMENTS, { bank: 'sha256', quotedPcr10: MEASUREMENTS_SHA256_FINAL, policy: allowAll([]) });
    expect(r.ok).toBe(true);
  });

  it('a template hash that does not match is ima_hash naming the path, in Python bytes repr', () => {
    const good = ngLine('sha256', fileDigest('sha256', 'a'), '/bin/a');
    const bad = good.line.replace(/^10 ./, (m) => (m.endsWith('0') ? '10 1' : '10 0'));
    const r = replayImaLog(bad, { bank: 'sha256', policy: allowAll([]) });
    expect(r.failures).toHaveLength(1);
    const ev = r.failures[0]!;
    expect(ev.id).toBe(IMA_EVENT.imaHash);
    expect(ev.path).toBe('/bin/a');
    expect(ev.context.message).toBe('IMA template hash does not match the calculated hash.');
    expect(String(ev.context.got)).toMatch(/^b'/);
    expect(String(ev.context.got)).toContain('sha256:\\x00');
  });

  it('the PCR column must be "10" (ima_pcr), but the entry is still extended and checked', () => {
    const l = ngLine('sha1', fileDigest('sha1', 'a'), '/bin/a', 'sha1', '11');
    const expected = replayPcr('sha1', [sha('sha1', l.templateData)]).toString('hex');
    const r = replayImaLog(l.line, { bank: 'sha1', quotedPcr10: expected });
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.imaPcr, IMA_EVENT.notInAllowlist]);
    expect(r.failures[0]!.context).toMatchObject({ expected: '10', got: '11' });
    expect(r.pcrMatchLine).toBe(1);
  });
});

describe('ToMToU / violation entries', () => {
  const violation = (logLen: number) => `10 ${'00'.repeat(logLen)} ima-ng sha1:${'00'.repeat(20)} /var/log/open-writers`;

  it('extends all-ones of the bank size and skips the hash check and the policy', () => {
    for (const [bank, vector] of [['sha1', VIOLATION_SHA1], ['sha256', VIOLATION_SHA256]] as const) {
      const ff = Buffer.alloc(crypto.createHash(bank).digest().length, 0xff);
      expect(replayPcr(bank, [ff]).toString('hex')).toBe(vector);
      const r = replayImaLog(violation(20), { bank, quotedPcr10: vector });
      expect(r.failures).toEqual([]);
      expect(r.pcrMatchLine).toBe(1);
    }
  });

  it('reports ima.validation.tomtou when Keylime would (ignore_tomtou_errors = True, sic)', () => {
    const r = replayImaLog(violation(20), { bank: 'sha1', quotedPcr10: VIOLATION_SHA1, reportTomtou: true });
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.tomtou]);
    expect(r.failures[0]!.path).toBe('/var/log/open-writers');
  });

  it('with log_hash_alg sha256 a 20-byte zero hash is not a violation: ima_hash and PCR mismatch', () => {
    const policy = compileRuntimePolicy({ ...emptyRuntimePolicy(), ima: { ignored_keyrings: [], log_hash_alg: 'sha256', dm_policy: null } });
    const r = replayImaLog(violation(20), { bank: 'sha256', quotedPcr10: VIOLATION_SHA256, policy });
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.imaHash, IMA_EVENT.pcrMismatch]);
    const ok = replayImaLog(violation(32), { bank: 'sha256', quotedPcr10: VIOLATION_SHA256, policy });
    expect(ok.failures).toEqual([]);
  });
});

describe('unparsable lines', () => {
  const good = ngLine('sha1', fileDigest('sha1', 'a'), '/bin/a');
  const bad = [
    'garbage',
    '10 abc ima-ng sha1:00 /x',
    `10 ${'00'.repeat(20)} ima-modsig sha1:${'00'.repeat(20)} /x`,
    `10 ${'11'.repeat(20)} ima-ng sha1:zz /x`,
    `10 ${'11'.repeat(20)} ima-ng a:b:${'00'.repeat(20)} /x`,
    `10 ${'11'.repeat(20)} ima-sig sha1:${'00'.repeat(20)} /trimmed-no-sig-field`,
    `10 ${'11'.repeat(20)} ima-buf sha1:${'00'.repeat(20)} name 0g`,
    `10 ${'11'.repeat(20)} ima-ng sha1:${'00'.repeat(20)}`,
  ];

  it('are reported as ima.parser.entry with their line number and are not extended', () => {
    const list = [good.line, ...bad, good.line].join('\n');
    const expected = replayPcr('sha1', [sha('sha1', good.templateData), sha('sha1', good.templateData)]).toString('hex');
    const r = replayImaLog(list, { bank: 'sha1', quotedPcr10: expected, policy: allowAll([]), startEntry: 100 });
    const parserEvents = r.failures.filter((f) => f.id === IMA_EVENT.parserEntry);
    expect(parserEvents.map((f) => f.line)).toEqual(bad.map((_, i) => i + 1));
    expect(parserEvents.map((f) => f.entry)).toEqual(bad.map((_, i) => 101 + i));
    expect(parserEvents[0]!.context.message).toBe('Line was not parsable into a valid IMA entry: garbage');
    expect(r.pcrMatchLine).toBe(bad.length + 2);
    expect(r.failures.length).toBe(bad.length);
  });

  it('a malformed ima-sig signature is treated as absent (so its template hash fails)', () => {
    const l = sigLine('sha256', fileDigest('sha256', 'a'), '/bin/a', Buffer.from('0302', 'hex'));
    const r = replayImaLog(l.line, { bank: 'sha256', policy: allowAll([]) });
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.imaHash]);
  });
});
