/**
 * IMA verification throughput: a synthesised 100,000-line ima-ng list checked against
 * a 100,000-digest runtime policy on one core, including every template-hash check and
 * the PCR 10 replay in the sha256 bank (the quote matches after the last line).
 * Measured in process CPU time (all threads, so GC helpers count against it).
 *
 * The first runs are warm-up (they also build the policy's digest index, which a
 * verifier does once per stored policy: `ima.policy.prepare` reports that one-off cost);
 * the figure is the median of the rest, a verifier's steady state.
 */
import crypto from 'node:crypto';
import type { Figure } from './harness.js';
import { compileRuntimePolicy, emptyRuntimePolicy, parseRuntimePolicy, replayImaLog, type HashAlg } from '../src/ima/index.js';

const ENTRIES = 100_000;
const BANK: HashAlg = 'sha256';

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function synthesise(logAlg: HashAlg): { list: string; pcr10: string; policy: ReturnType<typeof compileRuntimePolicy> } {
  const p = emptyRuntimePolicy();
  p.ima.log_hash_alg = logAlg;
  const lines: string[] = [];
  let pcr = Buffer.alloc(32);
  for (let i = 0; i < ENTRIES; i++) {
    const name = `/usr/lib/x86_64-linux-gnu/pkg${i % 997}/lib${i}.so.${i % 7}`;
    const digest = crypto.createHash('sha256').update(`file ${i}`).digest();
    const dng = Buffer.concat([u32le(6 + 2 + 32), Buffer.from('sha256:\0', 'latin1'), digest]);
    const n = Buffer.from(name, 'utf8');
    const td = Buffer.concat([dng, u32le(n.length + 1), n, Buffer.from([0])]);
    const th = crypto.createHash(logAlg).update(td).digest('hex');
    lines.push(`10 ${th} ima-ng sha256:${digest.toString('hex')} ${name}`);
    pcr = crypto.createHash(BANK).update(Buffer.concat([pcr, crypto.createHash(BANK).update(td).digest()])).digest();
    p.digests[name] = [digest.toString('hex')];
  }
  return { list: lines.join('\n') + '\n', pcr10: pcr.toString('hex'), policy: compileRuntimePolicy(p) };
}

function entriesPerSecond(logAlg: HashAlg): number {
  const { list, pcr10, policy } = synthesise(logAlg);
  const runs: number[] = [];
  for (let i = 0; i < 10; i++) {
    // CPU time, not wall time: the figure is per core, and the machine may be shared.
    const before = process.cpuUsage();
    const r = replayImaLog(list, { bank: BANK, quotedPcr10: pcr10, policy });
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    if (!r.ok || r.pcrMatchLine !== ENTRIES) throw new Error(`benchmark list did not verify: ${JSON.stringify(r.failures.slice(0, 3))}`);
    if (i >= 3) runs.push(ms);
  }
  runs.sort((a, b) => a - b);
  return Math.round((ENTRIES * 1000) / runs[Math.floor(runs.length / 2)]!);
}

/** Parsing a stored 100,000-digest policy, compiling it and building its digest index (first replay). */
function prepareMs(): number {
  const { policy } = synthesise('sha256');
  const text = JSON.stringify(policy.policy);
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const before = process.cpuUsage();
    const compiled = compileRuntimePolicy(parseRuntimePolicy(text));
    replayImaLog('', { bank: BANK, policy: compiled });
    const used = process.cpuUsage(before);
    runs.push((used.user + used.system) / 1000);
  }
  runs.sort((a, b) => a - b);
  return Math.round(runs[2]!);
}

export const figures: Figure[] = [
  // Template-hash column in sha256 (policy ima.log_hash_alg = sha256, kernel ima_hash=sha256 + sha256 ascii list).
  { name: 'ima.verify.entries', unit: 'entries/s', run: async () => entriesPerSecond('sha256') },
  // Keylime's default log_hash_alg sha1: one more hash per entry.
  { name: 'ima.verify.entries.sha1log', unit: 'entries/s', run: async () => entriesPerSecond('sha1') },
  { name: 'ima.policy.prepare', unit: 'ms', run: async () => prepareMs() },
];
