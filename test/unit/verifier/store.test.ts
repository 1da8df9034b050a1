import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEnrollment } from '../../../src/servers/verifier/validate.js';
import { VerifierStore } from '../../../src/servers/verifier/store.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { enrollmentBody } from './harness.js';

const agent = new SoftAgent('store-agent');
const record = (id: string) => ({ ...parseEnrollment(id, enrollmentBody(agent), { verifierId: 'default', verifierIp: '127.0.0.1', verifierPort: 8881 }).record });

describe('VerifierStore', () => {
  it('lifecycle changes are on disk when they resolve; counters only after a flush', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-vstore-'));
    const store = await VerifierStore.open(dir);
    await store.put(record('a'));
    await store.patch('a', (x) => void (x.operational_state = 3));
    store.touch('a', (x) => void (x.attestation_count = 42));
    const disk = () => JSON.parse(readFileSync(join(dir, 'verifier-agents.json'), 'utf8'));
    expect(disk().agents.a.operational_state).toBe(3);
    expect(disk().agents.a.attestation_count).toBe(0);
    await store.flush();
    expect(disk().agents.a.attestation_count).toBe(42);
    expect(await store.patch('missing', () => undefined)).toBe(false);
    expect(statSync(join(dir, 'verifier-agents.json')).mode & 0o777).toBe(0o600);

    const reopened = await VerifierStore.open(dir);
    expect(reopened.get('a')!.attestation_count).toBe(42);
    expect(reopened.ids()).toEqual(['a']);
    expect(reopened.ids('other')).toEqual([]);
  });

  it('many concurrent lifecycle changes all reach the disk (writes are shared, none lost)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-vstore-'));
    const store = await VerifierStore.open(dir);
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(record(`agent-${i}`))));
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.patch(`agent-${i}`, (x) => void (x.operational_state = i % 11))));
    const disk = JSON.parse(readFileSync(join(dir, 'verifier-agents.json'), 'utf8'));
    expect(Object.keys(disk.agents)).toHaveLength(200);
    for (let i = 0; i < 200; i++) expect(disk.agents[`agent-${i}`].operational_state).toBe(i % 11);
    await store.patchMany(['agent-1', 'agent-2', 'nope'], (x) => void (x.operational_state = 1));
    expect((await VerifierStore.open(dir)).get('agent-2')!.operational_state).toBe(1);
  });

  it('keeps policies in their own file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-vstore-'));
    const store = await VerifierStore.open(dir);
    await store.putRuntimePolicy({ name: 'p', runtime_policy: '{}', tpm_policy: null, runtime_policy_key: null, generator: 1 });
    await store.putMbPolicy({ name: 'm', mb_policy: null });
    const policies = JSON.parse(readFileSync(join(dir, 'verifier-policies.json'), 'utf8'));
    expect(Object.keys(policies.runtime)).toEqual(['p']);
    expect(Object.keys(policies.mb)).toEqual(['m']);
    expect(await store.deleteRuntimePolicy('p')).toBe(true);
    expect(await store.deleteRuntimePolicy('p')).toBe(false);
    expect(store.mbPolicyNames()).toEqual(['m']);
  });
});
