import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../src/log.js';
import { decryptPayload, deliverPayload } from '../../../src/servers/agent/payload.js';
import { buildZip } from './zip-builder.js';

function encrypt(k: Buffer, plaintext: Buffer, iv = randomBytes(16)): Buffer {
  const cipher = createCipheriv(k.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', k, iv);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]);
}

describe('payload decryption', () => {
  it('reads IV(16) || AES-GCM || tag(16), AES-256 for 32-byte keys and AES-128 for 16', () => {
    for (const size of [16, 32]) {
      const k = randomBytes(size);
      expect(decryptPayload(k, encrypt(k, Buffer.from('hello'))).toString()).toBe('hello');
      expect(decryptPayload(k, encrypt(k, Buffer.alloc(0))).length).toBe(0);
    }
  });

  it('refuses a wrong key, a flipped bit and a blob too short for IV and tag', () => {
    const k = randomBytes(32);
    const blob = encrypt(k, Buffer.from('payload'));
    expect(() => decryptPayload(randomBytes(32), blob)).toThrow(/GCM tag mismatch/);
    const flipped = Buffer.from(blob);
    flipped[20]! ^= 1;
    expect(() => decryptPayload(k, flipped)).toThrow(/GCM tag mismatch/);
    expect(() => decryptPayload(k, blob.subarray(0, 31))).toThrow(/at least 32/);
    expect(() => decryptPayload(randomBytes(24), blob)).toThrow(/16 or 32/);
  });
});

describe('payload pipeline', () => {
  let secure: string;
  beforeEach(() => {
    secure = join(mkdtempSync(join(tmpdir(), 'kts-payload-')), 'secure');
  });
  afterEach(() => rmSync(join(secure, '..'), { recursive: true, force: true }));

  const opts = (enableScript: boolean, lines?: string[]) => ({
    agentId: 'agent-1',
    secureDir: secure,
    enableScript,
    log: lines ? createLogger({ write: (l) => lines.push(l) }) : silentLogger,
  });

  it('replaces unzipped/ entirely, writes K and the plaintext, keeps a non-zip payload as is', async () => {
    mkdirSync(join(secure, 'unzipped'), { recursive: true });
    writeFileSync(join(secure, 'unzipped', 'stale'), 'old');
    const k = randomBytes(32);
    const out = await deliverPayload(k, encrypt(k, Buffer.from('just text')), opts(false));
    expect(readdirSync(out.dir).sort()).toEqual(['decrypted_payload', 'derived_tci_key']);
    expect(readFileSync(join(out.dir, 'derived_tci_key')).equals(k)).toBe(true);
    expect(readFileSync(join(out.dir, 'decrypted_payload'), 'utf8')).toBe('just text');
    expect(statSync(out.dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(out.dir, 'derived_tci_key')).mode & 0o777).toBe(0o600);
    expect(out.extracted).toEqual([]);
  });

  it('runs autorun.sh (cwd unzipped, AGENT_UUID set) only when enabled', async () => {
    const k = randomBytes(32);
    const zip = buildZip([{ name: 'autorun.sh', data: Buffer.from('#!/bin/sh\necho "$AGENT_UUID" > ran.txt\n') }]);
    const lines: string[] = [];
    const off = await deliverPayload(k, encrypt(k, zip), opts(false, lines));
    expect(off.scriptExitCode).toBeUndefined();
    expect(existsSync(join(off.dir, 'ran.txt'))).toBe(false);
    expect(lines.join('\n')).toMatch(/--enable-payload-script/);
    const on = await deliverPayload(k, encrypt(k, zip), opts(true));
    expect(on.scriptExitCode).toBe(0);
    expect(readFileSync(join(on.dir, 'ran.txt'), 'utf8')).toBe('agent-1\n');
    expect(statSync(join(on.dir, 'autorun.sh')).mode & 0o777).toBe(0o700);
  });

  it('reports a failing script by its exit code', async () => {
    const k = randomBytes(16);
    const out = await deliverPayload(k, encrypt(k, buildZip([{ name: 'autorun.sh', data: Buffer.from('exit 3\n') }])), opts(true));
    expect(out.scriptExitCode).toBe(3);
  });
});
