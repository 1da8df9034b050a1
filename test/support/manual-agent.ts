/**
 * The agent side of enrollment done by hand with tpm2-tools, as an operator would: create
 * the EK and an AK, read the EK certificate, activate a registrar's credential blob. Used to
 * test the registrar independently of our own agent.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Swtpm } from './swtpm.js';

export interface ManualIdentity {
  ekTpm: Buffer;
  akTpm: Buffer;
  akName: Buffer;
  ekCertDer: Buffer | null;
  /** Activates a credential blob (the registrar's `blob`, decoded) and returns the secret. */
  activate(blob: Buffer): Buffer;
}

export function tpm2(tpm: Swtpm, args: string[], cwd?: string): Buffer {
  return execFileSync(args[0]!, args.slice(1), { env: tpm.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function derLength(buf: Buffer): number {
  // Outer SEQUENCE: 0x30, then a short or long-form length.
  if (buf[0] !== 0x30) return buf.length;
  const first = buf[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = (len << 8) | buf[2 + i]!;
  return 2 + n + len;
}

export function createIdentity(tpm: Swtpm, alg: 'rsa' | 'ecc' = 'rsa'): ManualIdentity {
  const dir = mkdtempSync(join(tmpdir(), 'kts-manual-'));
  const run = (args: string[]) => tpm2(tpm, args, dir);
  run(['tpm2_createek', '-c', 'ek.ctx', '-G', alg, '-u', 'ek.pub']);
  run(['tpm2_flushcontext', '-t']);
  const akArgs = alg === 'rsa' ? ['-G', 'rsa', '-s', 'rsassa'] : ['-G', 'ecc', '-s', 'ecdsa'];
  run(['tpm2_createak', '-C', 'ek.ctx', '-c', 'ak.ctx', ...akArgs, '-g', 'sha256', '-u', 'ak.tss', '-f', 'tss', '-n', 'ak.name', '-r', 'ak.priv']);
  run(['tpm2_flushcontext', '-t']);
  let ekCertDer: Buffer | null = null;
  if (alg === 'rsa') {
    try {
      const nv = run(['tpm2_nvread', '0x1c00002', '-C', 'o']);
      ekCertDer = nv.subarray(0, derLength(nv));
    } catch {
      ekCertDer = null;
    }
  }
  return {
    ekTpm: readFileSync(join(dir, 'ek.pub')),
    akTpm: readFileSync(join(dir, 'ak.tss')),
    akName: readFileSync(join(dir, 'ak.name')),
    ekCertDer,
    activate(blob: Buffer): Buffer {
      writeFileSync(join(dir, 'cred.in'), blob);
      // Saved contexts stay loadable after the flush (until a TPM reset).
      run(['tpm2_startauthsession', '--policy-session', '-S', 's.ctx']);
      run(['tpm2_policysecret', '-S', 's.ctx', '-c', 'e']);
      run(['tpm2_activatecredential', '-c', 'ak.ctx', '-C', 'ek.ctx', '-i', 'cred.in', '-o', 'secret.out', '-P', 'session:s.ctx']);
      run(['tpm2_flushcontext', 's.ctx']);
      run(['tpm2_flushcontext', '-t']);
      return readFileSync(join(dir, 'secret.out'));
    },
  };
}

/** auth_tag = hex(HMAC-SHA384(key = b64(secret) ASCII, msg = agent id)), computed independently (§2.4). */
export function activationTag(secret: Buffer, agentId: string): string {
  return createHmac('sha384', Buffer.from(secret.toString('base64'), 'ascii')).update(agentId).digest('hex');
}
