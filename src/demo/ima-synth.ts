import { createHash } from 'node:crypto';
import { isLineError, parseImaLine, templateData } from '../ima/index.js';

/** One synthetic ima-ng measurement: its log line and what it extends into PCR 10 per bank. */
export interface SyntheticMeasurement {
  line: string;
  extend: { sha1: Buffer; sha256: Buffer };
}

/**
 * An ima-ng entry for `path` whose file digest is sha256(`content`), with the template hash
 * the kernel would write (sha1 of the template data) — what a real IMA list holds.
 */
export function imaNgMeasurement(path: string, content: string): SyntheticMeasurement {
  const fileDigest = createHash('sha256').update(content).digest('hex');
  const draft = parseImaLine(`10 ${'0'.repeat(40)} ima-ng sha256:${fileDigest} ${path}`);
  if (isLineError(draft)) throw new Error(`cannot build an IMA line for ${path}: ${draft.error}`);
  const data = templateData(draft);
  const sha1 = createHash('sha1').update(data).digest();
  return {
    line: `10 ${sha1.toString('hex')} ima-ng sha256:${fileDigest} ${path}`,
    extend: { sha1, sha256: createHash('sha256').update(data).digest() },
  };
}

/** A plausible boot's worth of executables and libraries. */
export function syntheticBoot(count: number): SyntheticMeasurement[] {
  const dirs = ['/usr/bin', '/usr/sbin', '/usr/lib64', '/usr/libexec'];
  return Array.from({ length: count }, (_, i) => imaNgMeasurement(`${dirs[i % dirs.length]}/program-${i}`, `contents of program ${i}`));
}
