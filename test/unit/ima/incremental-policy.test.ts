import { describe, expect, it } from 'vitest';
import {
  IMA_EVENT,
  beginImaRound,
  compileRuntimePolicy,
  emptyRuntimePolicy,
  initialImaState,
  replayImaLog,
  type ImaAttestationState,
  type RuntimePolicy,
} from '../../../src/ima/index.js';
import { fileDigest, ngLine, replayPcr, sha, type HandLine } from './handbuilt.js';

const BANK = 'sha256';

function makeList(n: number, offset = 0): HandLine[] {
  return Array.from({ length: n }, (_, i) => ngLine('sha256', fileDigest('sha256', `file ${i + offset}`), `/usr/bin/tool${i + offset}`));
}

function policyFor(lines: HandLine[], extra: Partial<RuntimePolicy> = {}): RuntimePolicy {
  const p = emptyRuntimePolicy();
  for (const l of lines) {
    const [, , , digest, name] = l.line.split(' ');
    (p.digests[name!] ??= []).push(digest!.split(':')[1]!);
  }
  return { ...p, ...extra };
}

function pcrAfter(lines: HandLine[], n: number): string {
  return replayPcr(BANK, lines.slice(0, n).map((l) => sha(BANK, l.templateData))).toString('hex');
}

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('prefix matching (log ahead of the quote)', () => {
  const lines = makeList(6);
  const policy = compileRuntimePolicy(policyFor(lines));
  const text = lines.map((l) => l.line).join('\n') + '\n';

  it('matches the quoted value after any prefix and still validates later lines', () => {
    for (let k = 0; k <= 6; k++) {
      const r = replayImaLog(text, { bank: BANK, quotedPcr10: pcrAfter(lines, k), policy });
      expect(r.ok).toBe(true);
      expect(r.pcrMatchLine).toBe(k);
      expect(r.newState.nextEntry).toBe(k);
      expect(r.newState.pcr10).toBe(k === 0 ? null : pcrAfter(lines, k));
    }
    const bad = ngLine('sha256', fileDigest('sha256', 'evil'), '/usr/bin/tool5');
    const tampered = [...lines.slice(0, 5).map((l) => l.line), bad.line].join('\n');
    const r = replayImaLog(tampered, { bank: BANK, quotedPcr10: pcrAfter(lines, 3), policy });
    expect(r.pcrMatchLine).toBe(3);
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.runtimePolicyHash]);
  });

  it('no prefix reproducing the quote is ima.pcr_mismatch, and state resets', () => {
    const r = replayImaLog(text, { bank: BANK, quotedPcr10: 'ab'.repeat(32), policy, state: initialImaState() });
    expect(r.failures.map((f) => f.id)).toEqual([IMA_EVENT.pcrMismatch]);
    expect(r.failures[0]!.context.message).toBe(`IMA measurement list does not match TPM PCR ${'ab'.repeat(32)}`);
    expect(r.newState).toMatchObject({ nextEntry: 0, pcr10: null });
  });

  it('blank lines are skipped but count in the match line', () => {
    const withBlanks = ['', lines[0]!.line, '', lines[1]!.line].join('\n');
    const r = replayImaLog(withBlanks, { bank: BANK, quotedPcr10: pcrAfter(lines, 2), policy });
    expect(r.pcrMatchLine).toBe(4);
    expect(r.logLength).toBe(2);
  });
});

describe('incremental replay', () => {
  const lines = makeList(40);
  const policy = compileRuntimePolicy(policyFor(lines));

  it('gives the same verdict and PCR as one full replay, with state surviving JSON', () => {
    const full = replayImaLog(lines.map((l) => l.line), { bank: BANK, quotedPcr10: pcrAfter(lines, 40), policy, state: initialImaState() });
    expect(full.ok).toBe(true);

    let state: ImaAttestationState = initialImaState();
    // The agent's log grows; each poll the quote covers a prefix of what was sent.
    const polls = [
      { available: 7, quoted: 5 },
      { available: 15, quoted: 15 },
      { available: 15, quoted: 15 },
      { available: 33, quoted: 30 },
      { available: 40, quoted: 40 },
    ];
    for (const poll of polls) {
      const sent = lines.slice(state.nextEntry, poll.available).map((l) => l.line);
      const r = replayImaLog(sent.join('\n') + '\n', { bank: BANK, quotedPcr10: pcrAfter(lines, poll.quoted), policy, state });
      expect(r.failures).toEqual([]);
      state = json(r.newState);
      expect(state.nextEntry).toBe(poll.quoted);
    }
    expect(state.pcr10).toBe(full.newState.pcr10);
    expect(state.nextEntry).toBe(full.newState.nextEntry);
  });

  it('an empty list passes only while the saved PCR equals the quote', () => {
    const first = replayImaLog(lines.slice(0, 3).map((l) => l.line), { bank: BANK, quotedPcr10: pcrAfter(lines, 3), policy, state: initialImaState() });
    const ok = replayImaLog('', { bank: BANK, quotedPcr10: pcrAfter(lines, 3), policy, state: first.newState });
    expect(ok.ok).toBe(true);
    expect(ok.pcrMatchLine).toBe(0);
    const moved = replayImaLog('', { bank: BANK, quotedPcr10: pcrAfter(lines, 4), policy, state: first.newState });
    expect(moved.failures.map((f) => f.id)).toEqual([IMA_EVENT.pcrMismatch]);
  });

  it('a quote that keeps lagging behind the same entries fails with ima.quote_progress', () => {
    const sent = lines.slice(0, 10).map((l) => l.line);
    const first = replayImaLog(sent, { bank: BANK, quotedPcr10: pcrAfter(lines, 8), policy, state: initialImaState() });
    expect(first.ok).toBe(true);
    expect(first.newState.quoteProgress).toEqual({ matchLine: 8, logLength: 10 });
    // Next poll resends entries 8 and 9; the PCR has not moved (match at line 0 < lag 2).
    const second = replayImaLog(lines.slice(8, 10).map((l) => l.line), { bank: BANK, quotedPcr10: pcrAfter(lines, 8), policy, state: first.newState });
    expect(second.failures.map((f) => f.id)).toEqual([IMA_EVENT.quoteProgress]);
    expect(second.newState.nextEntry).toBe(0);
    // Had the quote caught up, the round passes.
    const caught = replayImaLog(lines.slice(8, 10).map((l) => l.line), { bank: BANK, quotedPcr10: pcrAfter(lines, 10), policy, state: first.newState });
    expect(caught.ok).toBe(true);
  });

  it('any failure resets the state so the next poll replays from entry 0, keeping boottime', () => {
    const start = { ...initialImaState(), boottime: 1234 };
    const r = replayImaLog('junk', { bank: BANK, quotedPcr10: pcrAfter(lines, 0), policy, state: start });
    expect(r.ok).toBe(false);
    expect(r.newState).toEqual({ ...initialImaState(), boottime: 1234 });
  });
});

describe('beginImaRound (verifier pre-checks, spec §1.7)', () => {
  const progressed: ImaAttestationState = { ...initialImaState(), nextEntry: 50, pcr10: 'aa'.repeat(32), pcr10Bank: 'sha256', boottime: 1000, learnedKeyrings: { '.ima': { pubkeys: [], keyids: [] } } };

  it('entry 0 resets everything and records the boottime', () => {
    const r = beginImaRound(progressed, { entry: 0, boottime: 2000 });
    expect(r.skip).toBe(false);
    expect(r.failures).toEqual([]);
    expect(r.state).toEqual({ ...initialImaState(), boottime: 2000 });
  });

  it('a boottime change at the expected entry is a reboot: reset and skip this round', () => {
    const r = beginImaRound(progressed, { entry: 50, boottime: 2000 });
    expect(r.skip).toBe(true);
    expect(r.state.nextEntry).toBe(0);
    expect(r.state.pcr10).toBeNull();
    expect(r.state.learnedKeyrings).toEqual({});
    expect(r.state.boottime).toBe(1000);
    // The next poll asks for entry 0 and then proceeds normally.
    const next = beginImaRound(r.state, { entry: 0, boottime: 2000 });
    expect(next.skip).toBe(false);
    expect(next.state.boottime).toBe(2000);
  });

  it('an unexpected start entry is the irrecoverable qoute_validation.invalid_ima_entry_nb', () => {
    const r = beginImaRound(progressed, { entry: 49, boottime: 1000 });
    expect(r.failures).toEqual([
      expect.objectContaining({ id: 'qoute_validation.invalid_ima_entry_nb', recoverable: false, context: expect.objectContaining({ got: 49, expected: 50 }) }),
    ]);
    expect(r.skip).toBe(false);
  });

  it('the expected entry with the same boottime continues', () => {
    const r = beginImaRound(progressed, { entry: 50, boottime: 1000 });
    expect(r).toEqual({ state: progressed, skip: false, failures: [] });
  });
});

describe('runtime policy checks', () => {
  const a = ngLine('sha256', fileDigest('sha256', 'a'), '/usr/bin/a');
  const b = ngLine('sha256', fileDigest('sha256', 'b'), '/usr/bin/b');

  it('a file missing from the policy is not_in_allowlist naming the path', () => {
    const r = replayImaLog([a.line, b.line], { bank: BANK, policy: compileRuntimePolicy(policyFor([a])), startEntry: 10 });
    expect(r.failures).toEqual([
      { id: IMA_EVENT.notInAllowlist, context: { message: 'File not found in allowlist: /usr/bin/b' }, recoverable: true, line: 1, entry: 11, path: '/usr/bin/b' },
    ]);
  });

  it('a listed file with another digest is runtime_policy_hash with got/expected and the path', () => {
    const p = policyFor([a, b]);
    p.digests['/usr/bin/b'] = ['00'.repeat(32), '11'.repeat(20)];
    const r = replayImaLog([a.line, b.line], { bank: BANK, policy: compileRuntimePolicy(p) });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({
      id: IMA_EVENT.runtimePolicyHash,
      path: '/usr/bin/b',
      context: { message: 'Hash not found in runtime policy', got: fileDigest('sha256', 'b').toString('hex'), expected: ['00'.repeat(32), '11'.repeat(20)] },
    });
  });

  it('the empty policy fails every file; "sha256:" prefixed digests never match', () => {
    expect(replayImaLog([a.line], { bank: BANK }).failures.map((f) => f.id)).toEqual([IMA_EVENT.notInAllowlist]);
    const p = emptyRuntimePolicy();
    p.digests['/usr/bin/a'] = [`sha256:${fileDigest('sha256', 'a').toString('hex')}`];
    expect(replayImaLog([a.line], { bank: BANK, policy: compileRuntimePolicy(p) }).failures.map((f) => f.id)).toEqual([IMA_EVENT.runtimePolicyHash]);
  });

  it('excludes are start-anchored Python regexes (prefix semantics, "." is any char)', () => {
    const lines = ['/usr/bin/dd', '/usr/bin/ddx', '/usr/binXdd', '/opt/usr/bin/dd', '/tmp/x'].map((n) => ngLine('sha256', fileDigest('sha256', n), n));
    const p = emptyRuntimePolicy();
    p.excludes = ['/usr/bin.dd', '/tmp/'];
    const r = replayImaLog(lines.map((l) => l.line), { bank: BANK, policy: compileRuntimePolicy(p) });
    expect(r.failures.map((f) => f.path)).toEqual(['/opt/usr/bin/dd']);
  });

  it('excludes Python cannot compile are ignored with a warning; untranslatable ones are a typed error', () => {
    const p = emptyRuntimePolicy();
    p.excludes = ['/tmp/', '(broken'];
    const compiled = compileRuntimePolicy(p);
    expect(compiled.exclude).toBeNull();
    expect(compiled.warnings[0]).toMatch(/excludes ignored/);
    p.excludes = ['/tmp/(?>x)'];
    expect(() => compileRuntimePolicy(p)).toThrow(/untranslatable/);
  });

  it('boot aggregates from the measured-boot log are accepted for boot_aggregate', () => {
    const agg = ngLine('sha256', Buffer.from('cd'.repeat(32), 'hex'), 'boot_aggregate');
    const policy = compileRuntimePolicy(policyFor([a]));
    expect(replayImaLog([agg.line], { bank: BANK, policy }).failures.map((f) => f.id)).toEqual([IMA_EVENT.notInAllowlist]);
    expect(replayImaLog([agg.line], { bank: BANK, policy, bootAggregates: { sha256: ['cd'.repeat(32)] } }).ok).toBe(true);
    expect(replayImaLog([agg.line], { bank: BANK, policy, bootAggregates: { sha1: ['ef'.repeat(20)] } }).failures.map((f) => f.id)).toEqual([IMA_EVENT.runtimePolicyHash]);
    // The shared compiled policy was not mutated.
    expect(policy.digests.has('boot_aggregate')).toBe(false);
  });

  it('generic ima-buf entries are checked against the ima-buf map', async () => {
    const { bufLine } = await import('./handbuilt.js');
    const kv = bufLine('sha256', Buffer.from('6.1.0'), 'kernel_version');
    const p = emptyRuntimePolicy();
    expect(replayImaLog([kv.line], { bank: BANK, policy: compileRuntimePolicy(p) }).failures[0]!.path).toBe('kernel_version');
    p['ima-buf'].kernel_version = [fileDigest('sha256', '6.1.0').toString('hex')];
    expect(replayImaLog([kv.line], { bank: BANK, policy: compileRuntimePolicy(p) }).ok).toBe(true);
  });
});
