import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { fileDigest, ngLine } from '../unit/ima/handbuilt.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-policy-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const lines = ['/usr/bin/bash', '/usr/lib/libc.so.6', '/tmp/scratch'].map((path) => ngLine('sha256', fileDigest('sha256', path), path).line);

describe('keylime-ts policy runtime', () => {
  const log = file('ima.txt', lines.join('\n') + '\n');
  const policyPath = join(dir, 'policy.json');

  it('create lists every measured file but the excluded ones; test passes the same list', () => {
    const created = runCli(['policy', 'runtime', 'create', '--ima-log', log, '--exclude', '/tmp/.*', '-o', policyPath]);
    expect(created.code, created.stderr).toBe(0);
    const policy = JSON.parse(readFileSync(policyPath, 'utf8'));
    expect(Object.keys(policy.digests).sort()).toEqual(['/usr/bin/bash', '/usr/lib/libc.so.6']);
    expect(policy.excludes).toEqual(['/tmp/.*']);
    const tested = runCli(['policy', 'runtime', 'test', '--ima-log', log, '--policy', policyPath, '--json']);
    expect(tested.code, tested.stderr).toBe(0);
    expect(JSON.parse(tested.stdout)).toMatchObject({ ok: true, entries: 3, failures: [] });
  });

  it('test fails (exit 1) naming a file that is not in the policy', () => {
    const evil = ngLine('sha256', fileDigest('sha256', 'evil'), '/usr/bin/evil').line;
    const grown = file('ima-grown.txt', [...lines, evil].join('\n') + '\n');
    const tested = runCli(['policy', 'runtime', 'test', '--ima-log', grown, '--policy', policyPath, '--json']);
    expect(tested.code).toBe(1);
    const out = JSON.parse(tested.stdout);
    expect(out.ok).toBe(false);
    expect(out.failures).toContainEqual(expect.objectContaining({ event_id: 'ima.validation.ima-ng.not_in_allowlist', path: '/usr/bin/evil', line: 4 }));
  });

  it('sign then verify a DSSE envelope; another key says invalid; missing files are exit 4, bad keys exit 2', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const priv = file('key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const pub = file('pub.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const otherPub = file('other.pem', other.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const envelope = join(dir, 'signed.json');
    expect(runCli(['policy', 'runtime', 'sign', '--policy', policyPath, '--key', priv, '-o', envelope]).code).toBe(0);
    expect(runCli(['policy', 'runtime', 'verify', '--policy', envelope, '--key', pub]).code).toBe(0);
    const wrong = runCli(['policy', 'runtime', 'verify', '--policy', envelope, '--key', otherPub, '--json']);
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout)).toEqual({ valid: false });
    // A signed policy is accepted by `test` too (the envelope is unwrapped).
    expect(runCli(['policy', 'runtime', 'test', '--ima-log', log, '--policy', envelope]).code).toBe(0);
    expect(runCli(['policy', 'runtime', 'test', '--ima-log', join(dir, 'missing'), '--policy', policyPath]).code).toBe(4);
    expect(runCli(['policy', 'runtime', 'verify', '--policy', envelope, '--key', log]).code).toBe(2);
  });

  it('create --rootfs hashes every regular file as the machine sees it, skipping excludes and symlinks; the result passes a matching list', () => {
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    mkdirSync(join(root, 'var/log'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/tool'), 'the tool');
    writeFileSync(join(root, 'usr/bin/big'), Buffer.alloc(3 * 1024 * 1024, 7));
    writeFileSync(join(root, 'var/log/messages'), 'noise');
    symlinkSync('tool', join(root, 'usr/bin/link'));
    const out = join(dir, 'rootfs-policy.json');
    const r = runCli(['policy', 'runtime', 'create', '--rootfs', root, '--exclude', '/var/.*', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const policy = JSON.parse(readFileSync(out, 'utf8'));
    const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
    expect(policy.digests).toEqual({ '/usr/bin/big': [sha(Buffer.alloc(3 * 1024 * 1024, 7))], '/usr/bin/tool': [sha('the tool')] });
    const list = file('rootfs-ima.txt', ngLine('sha256', Buffer.from(sha('the tool'), 'hex'), '/usr/bin/tool').line + '\n');
    expect(runCli(['policy', 'runtime', 'test', '--ima-log', list, '--policy', out]).code).toBe(0);
    expect(runCli(['policy', 'runtime', 'create', '--rootfs', join(dir, 'nope')]).code).toBe(4);
    expect(runCli(['policy', 'runtime', 'create']).code).toBe(2);
  });
});
