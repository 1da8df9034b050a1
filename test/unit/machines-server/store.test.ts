/**
 * The machine store on disk: machines.json written before each answer, the 0600 key file
 * sealing secrets at rest, a restart keeping tokens, bindings and options, and refusal to
 * start when the store is unreadable or its key is gone.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateSecretKey, readSecretKey } from '../../../src/servers/machines/secret-key.js';
import { openMachineStore } from '../../../src/servers/machines/index.js';
import { AGENT_A, SSH_KEY, makeHarness, valueOf } from './harness.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kts-mstore-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const LUKS_KEY = '00112233445566778899aabbccddeeff00112233';
const onDisk = (dir: string) => JSON.parse(readFileSync(join(dir, 'machines.json'), 'utf8'));

async function populated(dataDir: string) {
  const h = await makeHarness({ dataDir });
  h.agents.set(AGENT_A, { agent_id: AGENT_A, ip: '10.0.0.5', meta_data: { hostname: 'web1' } });
  valueOf(await h.call('POST', '/token/init', { json: { type: 'sshkey', sshkey: SSH_KEY, serial: 'S1' } }));
  valueOf(await h.call('POST', '/token/init', { json: { type: 'luks', otpkey: LUKS_KEY, serial: 'UBOM1' } }));
  valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'web1', user: 'root' } }));
  valueOf(await h.call('POST', '/machine/token', { json: { serial: 'UBOM1', application: 'luks', hostname: 'web1', slot: 1 } }));
  valueOf(await h.call('POST', '/machine/tokenoption', { json: { serial: 'UBOM1', application: 'luks', hostname: 'web1', partition: '/dev/vda3' } }));
  return h;
}

describe('machine store files', () => {
  it('creates machines.json with the built-in keylime resolver and a 0600 key file', async () => {
    const dataDir = tempDir();
    const h = await makeHarness({ dataDir });
    const key = join(dataDir, 'machines.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(join(dataDir, 'machines.json')).mode & 0o777).toBe(0o600);
    expect(onDisk(dataDir).resolvers).toEqual([{ id: 1, name: 'keylime', type: 'keylime', config: {} }]);
    await h.close();
  });

  it('has every change on disk when the answer arrives, secrets sealed', async () => {
    const dataDir = tempDir();
    const h = await populated(dataDir);
    const data = onDisk(dataDir);
    expect(data.bindings.map((b: any) => [b.application, b.machineId, b.options])).toEqual([
      ['ssh', AGENT_A, { user: 'root' }],
      ['luks', AGENT_A, { slot: '1', partition: '/dev/vda3' }],
    ]);
    const text = readFileSync(join(dataDir, 'machines.json'), 'utf8');
    expect(text).not.toContain(LUKS_KEY);
    expect(text).not.toContain(Buffer.from(LUKS_KEY, 'hex').toString('base64'));
    expect(data.tokens.find((t: any) => t.serial === 'UBOM1').secret.alg).toBe('aes-256-gcm');
    // An offline answer's counter is durable before the answer too.
    valueOf(await h.call('POST', '/token/init', { json: { type: 'hotp', otpkey: LUKS_KEY, serial: 'OATH1' } }));
    valueOf(await h.call('POST', '/machine/token', { json: { serial: 'OATH1', application: 'offline', hostname: 'web1', count: 3, rounds: 10 } }));
    valueOf(await h.call('GET', '/machine/authitem/offline?hostname=web1'));
    expect(onDisk(dataDir).tokens.find((t: any) => t.serial === 'OATH1').count).toBe(3);
    await h.close();
  });

  it('keeps tokens, bindings and options over a restart, and the secrets still open', async () => {
    const dataDir = tempDir();
    const h = await populated(dataDir);
    const before = valueOf(await h.call('GET', '/machine/token?hostname=web1'));
    await h.restart();
    expect(valueOf(await h.call('GET', '/machine/token?hostname=web1'))).toEqual(before);
    expect(valueOf(await h.call('GET', '/token/')).tokens.map((t: any) => t.serial)).toEqual(['S1', 'UBOM1']);
    const luks = valueOf(await h.call('GET', '/machine/authitem/luks?hostname=web1&challenge=abcdef')).luks[0];
    expect(luks).toMatchObject({ slot: '1', partition: '/dev/vda3' });
    const { createHmac } = await import('node:crypto');
    expect(luks.response).toBe(createHmac('sha1', Buffer.from(LUKS_KEY, 'hex')).update(Buffer.from('abcdef', 'hex')).digest('hex'));
    // New ids continue after the old ones.
    expect(valueOf(await h.call('POST', '/machine/token', { json: { serial: 'S1', application: 'ssh', hostname: 'web1' } }))).toBe(3);
    await h.close();
  });

  it('does not bring back a deleted keylime resolver on restart', async () => {
    const dataDir = tempDir();
    const h = await makeHarness({ dataDir });
    valueOf(await h.call('DELETE', '/machineresolver/keylime'));
    await h.restart();
    expect(valueOf(await h.call('GET', '/machineresolver/'))).toEqual({});
    await h.close();
  });

  it('refuses to start when the key is gone but sealed secrets remain', async () => {
    const dataDir = tempDir();
    const h = await populated(dataDir);
    await h.close();
    rmSync(join(dataDir, 'machines.key'));
    const again = await makeHarness({ dataDir, noReady: true });
    await expect(again.app.ready()).rejects.toThrow(/machines\.key is missing but .*machines\.json holds sealed token secrets/);
    expect(existsSync(join(dataDir, 'machines.key'))).toBe(false);
  });

  it('cannot open secrets with another key: the luks answer fails instead of answering wrongly', async () => {
    const dataDir = tempDir();
    const h = await populated(dataDir);
    await h.close();
    writeFileSync(join(dataDir, 'machines.key'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const again = await makeHarness({ dataDir });
    again.agents.set(AGENT_A, { agent_id: AGENT_A, meta_data: '{"hostname":"web1"}' });
    const r = await again.call('GET', '/machine/authitem/luks?hostname=web1&challenge=abcdef');
    expect(r.status).toBe(500);
    expect(r.body.result.status).toBe(false);
    await again.close();
  });

  it('refuses a store file that is not JSON or not a machine store', async () => {
    for (const content of ['{"tokens": [', '{"agents": {}}', '[]']) {
      const dataDir = tempDir();
      writeFileSync(join(dataDir, 'machines.json'), content);
      await expect(openMachineStore(dataDir)).rejects.toThrow(/machines\.json (is not valid JSON|is not a keylime-ts machine store)/);
    }
  });
});

describe('secret key file', () => {
  it('gives every concurrent opener the same key and leaves no temp files', async () => {
    const dir = tempDir();
    const path = join(dir, 'sub', 'machines.key');
    const opened = await Promise.all(Array.from({ length: 12 }, () => loadOrCreateSecretKey(path)));
    expect(new Set(opened.map((o) => o.key.toString('hex'))).size).toBe(1);
    expect(opened.filter((o) => o.created)).toHaveLength(1);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['machines.key']);
  });

  it('reports a loose mode and rejects a damaged file', async () => {
    const dir = tempDir();
    const path = join(dir, 'machines.key');
    await loadOrCreateSecretKey(path);
    chmodSync(path, 0o644);
    expect((await readSecretKey(path)).looseMode).toBe(0o644);
    writeFileSync(path, 'not a key\n');
    await expect(readSecretKey(path)).rejects.toThrow(/must hold 64 hex characters/);
  });
});
