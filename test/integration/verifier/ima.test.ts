import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import { templateData, type ImaEntry } from '../../../src/ima/index.js';
import { silentLogger } from '../../../src/log.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';
import { State } from '../../../src/servers/verifier/states.js';
import { adminClient, agentStatus, directEnrollmentBody, newTpm, startAgent, startStack, waitFor, type Stack } from './stack.js';

const ID = 'a11ce000-0000-4000-8000-00000000000a';

/** An ima-ng line for `path` and the digest the kernel extends PCR 10 (sha256 bank) with. */
function imaLine(path: string): { line: string; extend: Buffer } {
  const digest = createHash('sha256').update(`content of ${path}`).digest('hex');
  const entry: ImaEntry = { pcr: '10', templateHash: '', template: 'ima-ng', digestAlg: 'sha256', digest, name: path, signature: '', buffer: '' };
  const data = templateData(entry);
  return { line: `10 ${createHash('sha1').update(data).digest('hex')} ima-ng sha256:${digest} ${path}\n`, extend: createHash('sha256').update(data).digest() };
}

let stack: Stack;
let verifier: RunningVerifier;
let admin: HttpClient;
let agent: RunningAgent;
let imaFile: string;

async function measure(path: string): Promise<void> {
  const m = imaLine(path);
  appendFileSync(imaFile, m.line);
  await agent.tpm.pcrExtend(10, 'sha256', m.extend);
}

beforeAll(async () => {
  stack = await startStack();
  verifier = await startVerifier({ host: '127.0.0.1', port: 0, dataDir: join(stack.dir, 'verifier'), certDir: stack.caDir, quoteIntervalSeconds: 1, logger: silentLogger });
  admin = adminClient(stack, `https://127.0.0.1:${verifier.port}`);
  imaFile = join(stack.dir, 'ascii_runtime_measurements');
  writeFileSync(imaFile, '');
  agent = await startAgent(stack.agentOptions(await newTpm(stack), ID, { imaLog: imaFile }));
  for (const p of ['/usr/bin/bash', '/usr/lib/libc.so.6']) await measure(p);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await verifier?.close();
  await agent?.close();
  await stack?.close();
});

describe('runtime policy against a real agent IMA log and swtpm PCR 10', () => {
  it('passes while every measured file is in the policy, fails on the first one that is not', async () => {
    const digests: Record<string, string[]> = {};
    for (const p of ['/usr/bin/bash', '/usr/lib/libc.so.6', '/usr/bin/ls']) digests[p] = [createHash('sha256').update(`content of ${p}`).digest('hex')];
    const policy = { meta: { version: 1, generator: 3 }, release: 0, digests, excludes: ['/var/log/.*'], keyrings: {}, ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null }, 'ima-buf': {}, 'verification-keys': '' };
    const created = await admin.post('/v2.1/allowlists/base-image', { runtime_policy: Buffer.from(JSON.stringify(policy)).toString('base64') });
    expect(created.status, created.text).toBe(201);

    await enrollWithPolicy('base-image');
    await waitFor('attested with the IMA log', 15_000, async () => {
      const s = (await agentStatus(admin, ID)).results;
      return s.operational_state === State.GET_QUOTE && Number(s.attestation_count) >= 2 ? s : undefined;
    });
    expect((await agentStatus(admin, ID)).results.has_runtime_policy).toBe(1);

    await measure('/usr/bin/ls');
    await measure('/var/log/messages'); // excluded
    const before = Number((await agentStatus(admin, ID)).results.attestation_count);
    await waitFor('new entries attested', 10_000, async () => Number((await agentStatus(admin, ID)).results.attestation_count) >= before + 2);
    expect((verifier.deps.store.get(ID)!.evidence_state.ima as { nextEntry: number }).nextEntry).toBe(4);

    await measure('/tmp/dropper');
    const failed = await waitFor('Invalid Quote', 10_000, async () => {
      const s = (await agentStatus(admin, ID)).results;
      return s.operational_state === State.INVALID_QUOTE ? s : undefined;
    });
    expect(failed.last_event_id).toBe('ima.validation.ima-ng.not_in_allowlist');
    expect((await admin.delete('/v2.1/allowlists/base-image')).status).toBe(409);
  });
});

async function enrollWithPolicy(name: string): Promise<void> {
  // The tenant with --runtime-policy-name: PCR 10 in the mask, the named policy, no policy body.
  const reg = (await stack.registrarTenant.get<Record<string, unknown>>(`/v2.2/agents/${ID}`)).body!.results;
  const body = directEnrollmentBody(Number(reg.port), String(reg.mtls_cert), String(reg.aik_tpm), { v: null, tpm_policy: '{"mask": "0x400"}', runtime_policy_name: name });
  const r = await admin.post(`/v2.2/agents/${ID}`, body);
  expect(r.status, r.text).toBe(200);
}
