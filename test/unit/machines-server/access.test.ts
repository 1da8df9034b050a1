/**
 * Who may call what: identification from the client certificate facts, the attestation
 * verdict from a verifier agent record, and the per-route rules for machine callers.
 */
import { describe, expect, it } from 'vitest';
import { KeylimeError } from '../../../src/errors.js';
import { MemoryMachineRepository, paramsOf, type MachineContext } from '../../../src/machines/index.js';
import { authorize, type AccessCheck } from '../../../src/servers/machines/access.js';
import { PinnedCertificates, identifyCaller, looksLikeAgentId } from '../../../src/servers/machines/caller.js';
import { verifierMachineDirectory } from '../../../src/servers/machines/directory.js';
import { agentAttestation, type MachineAgentInfo } from '../../../src/servers/machines/index.js';
import { selfSignedServerCert } from '../../../src/crypto/self-signed.js';
import { X509Certificate } from 'node:crypto';
import { AGENT_A, AGENT_B } from './harness.js';

function source(list: MachineAgentInfo[]) {
  return { list: () => list, get: (id: string) => list.find((a) => a.agent_id === id) };
}

const agents = source([
  { agent_id: AGENT_A, ip: '10.0.0.5', meta_data: '{"hostname":"web1"}' },
  { agent_id: AGENT_B, ip: '10.0.0.6', hostname: 'db1' },
  { agent_id: 'custom-host-7', ip: '10.0.0.7' },
]);
const pinned = new PinnedCertificates();
const der = Buffer.from('not really a certificate');

describe('identifyCaller', () => {
  it('treats plain HTTP as the administrator and a missing certificate as 4033', () => {
    expect(identifyCaller('plain', agents, pinned)).toEqual({ role: 'admin', name: 'plain-http' });
    expect(identifyCaller(undefined, agents, pinned)).toMatchObject({ role: 'refused', code: 4033 });
  });

  it('makes a CA certificate naming a known agent that machine, and other CA certificates administrators', () => {
    expect(identifyCaller({ authorized: true, commonName: AGENT_A, der }, agents, pinned)).toEqual({ role: 'machine', agentId: AGENT_A, via: 'ca-certificate' });
    expect(identifyCaller({ authorized: true, commonName: 'custom-host-7', der }, agents, pinned)).toMatchObject({ role: 'machine', agentId: 'custom-host-7' });
    expect(identifyCaller({ authorized: true, commonName: 'client', der }, agents, pinned)).toEqual({ role: 'admin', name: 'client' });
  });

  it('never makes an unknown agent-shaped name an administrator', () => {
    const gone = '0b7f1a5e-0000-4000-8000-123456789abc';
    expect(identifyCaller({ authorized: true, commonName: gone, der }, agents, pinned)).toMatchObject({ role: 'refused', code: 4304 });
    expect(identifyCaller({ authorized: true, commonName: 'ab'.repeat(32), der }, agents, pinned)).toMatchObject({ role: 'refused' });
    expect(looksLikeAgentId('client')).toBe(false);
  });

  it('with adminNames, accepts only those names as administrators', () => {
    expect(identifyCaller({ authorized: true, commonName: 'client', der }, agents, pinned, ['ops'])).toMatchObject({ role: 'refused', code: 4304 });
    expect(identifyCaller({ authorized: true, commonName: 'ops', der }, agents, pinned, ['ops'])).toEqual({ role: 'admin', name: 'ops' });
    expect(identifyCaller({ authorized: true, commonName: AGENT_B, der }, agents, pinned, ['ops'])).toMatchObject({ role: 'machine', agentId: AGENT_B });
  });

  it('accepts a certificate outside the CA only when it is exactly an agent\'s pinned certificate', async () => {
    const own = await selfSignedServerCert({ commonName: AGENT_A });
    const other = await selfSignedServerCert({ commonName: AGENT_A });
    const raw = new X509Certificate(own.certPem).raw;
    const withPin = source([{ agent_id: AGENT_A, mtls_cert: own.certPem }, { agent_id: AGENT_B, mtls_cert: 'garbage' }]);
    expect(identifyCaller({ authorized: false, commonName: AGENT_A, der: raw }, withPin, pinned)).toEqual({ role: 'machine', agentId: AGENT_A, via: 'pinned-certificate' });
    // Found by certificate even when the CN names someone else.
    expect(identifyCaller({ authorized: false, commonName: AGENT_B, der: raw }, withPin, pinned)).toMatchObject({ role: 'machine', agentId: AGENT_A });
    // Same CN, different key: refused.
    const otherRaw = new X509Certificate(other.certPem).raw;
    expect(identifyCaller({ authorized: false, commonName: AGENT_A, der: otherRaw }, withPin, pinned)).toMatchObject({ role: 'refused', code: 4304 });
    expect(identifyCaller({ authorized: false, commonName: 'client', der: otherRaw }, withPin, pinned)).toMatchObject({ role: 'refused' });
  });
});

describe('agentAttestation', () => {
  const agent = (operational_state: number, attestation_count: number, last_event_id: string | null = null) => ({ operational_state, attestation_count, last_event_id });
  it('passes only attesting agents with a good quote and no failure on record', () => {
    expect(agentAttestation(agent(3, 1))).toEqual({ ok: true });
    expect(agentAttestation(agent(4, 9))).toEqual({ ok: true });
    expect(agentAttestation(agent(5, 1))).toEqual({ ok: true });
    expect(agentAttestation(agent(6, 2))).toEqual({ ok: true });
    expect(agentAttestation(agent(3, 0))).toEqual({ ok: false, eventId: 'attestation.pending', state: 'Get Quote' });
    expect(agentAttestation(agent(1, 4))).toEqual({ ok: false, eventId: 'attestation.not_attesting', state: 'Start' });
    expect(agentAttestation(agent(9, 4, 'pcr_validation.invalid_pcr_16'))).toEqual({ ok: false, eventId: 'pcr_validation.invalid_pcr_16', state: 'Invalid Quote' });
    expect(agentAttestation(agent(3, 4, 'ima.hash_mismatch'))).toMatchObject({ ok: false, eventId: 'ima.hash_mismatch' });
    expect(agentAttestation(undefined)).toEqual({ ok: false, eventId: 'attestation.unknown_agent', state: 'Unknown' });
  });
});

describe('authorize', () => {
  const repo = new MemoryMachineRepository();
  repo.insertResolver({ name: 'keylime', type: 'keylime', config: {} });
  const ctx: MachineContext = { repo, machines: verifierMachineDirectory(agents), secretKey: Buffer.alloc(32) };
  const check = (over: Partial<AccessCheck>): AccessCheck => ({
    caller: { role: 'machine', agentId: AGENT_A, via: 'ca-certificate' },
    method: 'GET',
    path: '/machine/authitem',
    machineAccess: 'own-authitem',
    params: paramsOf({ hostname: 'web1' }),
    ctx,
    attestation: async () => ({ ok: true }),
    ...over,
  });
  const refusal = async (c: AccessCheck) => {
    try {
      await authorize(c);
    } catch (e) {
      return (e as KeylimeError).status;
    }
    return 'allowed';
  };

  it('lets a machine fetch its own items by any of its hostnames, including its agent id', async () => {
    expect(await refusal(check({}))).toBe('allowed');
    expect(await refusal(check({ params: paramsOf({ hostname: AGENT_A, user: 'root' }) }))).toBe('allowed');
    // No hostname: the endpoint answers its own 400.
    expect(await refusal(check({ params: paramsOf({}) }))).toBe('allowed');
  });

  it('refuses another machine\'s items, unknown hosts, service_id lookups and management routes', async () => {
    expect(await refusal(check({ params: paramsOf({ hostname: 'db1' }) }))).toBe(403);
    expect(await refusal(check({ params: paramsOf({ hostname: 'nowhere' }) }))).toBe(403);
    expect(await refusal(check({ params: paramsOf({ hostname: 'web1', service_id: 'git' }) }))).toBe(403);
    expect(await refusal(check({ method: 'POST', path: '/machine/token', machineAccess: undefined }))).toBe(403);
    expect(await refusal(check({ method: 'GET', path: '/token/', machineAccess: undefined }))).toBe(403);
  });

  it('lets a machine refill offline values only while it passes attestation', async () => {
    const refill = { method: 'POST', path: '/validate/offlinerefill', machineAccess: 'attested' as const, params: paramsOf({}) };
    expect(await refusal(check(refill))).toBe('allowed');
    expect(await refusal(check({ ...refill, attestation: async () => ({ ok: false, eventId: 'x', state: 'Failed' }) }))).toBe(403);
  });

  it('lets administrators do anything and refuses refused callers with 401', async () => {
    expect(await refusal(check({ caller: { role: 'admin', name: 'client' }, params: paramsOf({ hostname: 'db1' }) }))).toBe('allowed');
    expect(await refusal(check({ caller: { role: 'refused', code: 4033, reason: 'no certificate' } }))).toBe(401);
  });
});
