/**
 * IMA runtime attestation end to end: a real swtpm whose PCR 10 holds the extends of a
 * synthetic 10,000-line ima-ng list, our agent serving that list from --ima-log, our
 * registrar, our verifier polling over real mTLS, and the tenant library enrolling with a
 * runtime policy made from the list by createRuntimePolicy.
 *
 * The verifier's calls to the agent go through a recording AgentApi (the real HTTPS
 * client underneath), so the test sees which ima_ml_entry each poll asked for and how
 * many lines came back: that is what proves polls after the first fetch only new lines.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../src/client/http.js';
import { readTlsMaterial } from '../../../src/crypto/ca.js';
import { CertStore } from '../../../src/crypto/ek-cert.js';
import { imaNgMeasurement, type SyntheticMeasurement } from '../../../src/demo/ima-synth.js';
import { createRuntimePolicy, signDsseEnvelope, type ImaAttestationState, type RuntimePolicy } from '../../../src/ima/index.js';
import { silentLogger } from '../../../src/log.js';
import type { RunningAgent } from '../../../src/servers/agent/index.js';
import { HttpAgentApi, type AgentAddress, type AgentApi, type AgentReply, type QuoteParams } from '../../../src/servers/verifier/agent-client.js';
import { startVerifier, type RunningVerifier } from '../../../src/servers/verifier/server.js';
import { State } from '../../../src/servers/verifier/states.js';
import { addAgent } from '../../../src/tenant/add-agent.js';
import { TenantContext } from '../../../src/tenant/context.js';
import { adminClient, agentStatus, directEnrollmentBody, newTpm, startAgent, startStack, startWebhook, waitFor, type Stack, type Webhook } from '../verifier/stack.js';

const ID = 'a11ce000-0000-4000-8000-0000000000e2';
const BOOT_LINES = 10_000;
const EXCLUDES = ['/var/log/.*', '/home/[^/]+/\\.cache/'];

/** One poll as the verifier made it: the entry it asked for and the lines it got back. */
interface Poll {
  imaMlEntry: number;
  status: number;
  replyEntry: number | undefined;
  lines: number;
}

/** The verifier's real HTTPS agent client, with every integrity quote written down. */
class RecordingAgentApi implements AgentApi {
  readonly polls: Poll[] = [];
  constructor(private readonly inner: AgentApi) {}

  async getIntegrityQuote(agent: AgentAddress, version: string, params: QuoteParams): Promise<AgentReply> {
    const reply = await this.inner.getIntegrityQuote(agent, version, params);
    const list = reply.results?.ima_measurement_list;
    const entry = reply.results?.ima_measurement_list_entry;
    this.polls.push({
      imaMlEntry: params.imaMlEntry,
      status: reply.status,
      replyEntry: typeof entry === 'number' ? entry : undefined,
      lines: typeof list === 'string' ? list.split('\n').filter((l) => l !== '').length : -1,
    });
    return reply;
  }
  postVKey(agent: AgentAddress, version: string, encryptedKey: string) {
    return this.inner.postVKey(agent, version, encryptedKey);
  }
  getVersion(agent: AgentAddress) {
    return this.inner.getVersion(agent);
  }
  postRevocation(agent: AgentAddress, version: string, notification: { msg: string; signature: string }) {
    return this.inner.postRevocation(agent, version, notification);
  }
  forget(agentId: string) {
    return this.inner.forget(agentId);
  }
  close() {
    return this.inner.close();
  }
}

let stack: Stack;
let webhook: Webhook;
let verifier: RunningVerifier;
let recorder: RecordingAgentApi;
let admin: HttpClient;
let agent: RunningAgent;
let tenant: TenantContext;
let certStore: CertStore;
let imaFile: string;
let bootList: SyntheticMeasurement[];
let policy: RuntimePolicy;

/** What the kernel does for one measurement: a line in the list, the same template data extended into PCR 10 of both banks. */
async function measure(...ms: SyntheticMeasurement[]): Promise<void> {
  appendFileSync(imaFile, ms.map((m) => m.line + '\n').join(''));
  await agent.tpm.pcrExtendMany(ms.flatMap((m) => [
    { pcr: 10, bank: 'sha1' as const, digest: m.extend.sha1 },
    { pcr: 10, bank: 'sha256' as const, digest: m.extend.sha256 },
  ]));
}

const imaState = () => verifier.deps.store.get(ID)!.evidence_state.ima as ImaAttestationState;

async function status(): Promise<Record<string, unknown>> {
  return (await agentStatus(admin, ID)).results;
}

/** Waits for `n` more completed polls in Get Quote, and returns those polls. */
async function morePolls(n: number): Promise<Poll[]> {
  const from = recorder.polls.length;
  const count = Number((await status()).attestation_count);
  await waitFor(`${n} more attestations`, 15_000, async () => {
    const s = await status();
    return Number(s.attestation_count) >= count + n && s.operational_state === State.GET_QUOTE;
  });
  return recorder.polls.slice(from);
}

beforeAll(async () => {
  stack = await startStack();
  webhook = await startWebhook();
  const client = readTlsMaterial(stack.caDir, 'client');
  recorder = new RecordingAgentApi(new HttpAgentApi({ ca: [client.ca], cert: client.cert, key: client.key }, 10_000));
  verifier = await startVerifier({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(stack.dir, 'verifier'),
    certDir: stack.caDir,
    quoteIntervalSeconds: 1,
    agentApi: recorder,
    revocation: { targets: ['webhook'], webhookUrl: webhook.url },
    logger: silentLogger,
  });
  admin = adminClient(stack, `https://127.0.0.1:${verifier.port}`);
  tenant = new TenantContext({
    registrar: { host: '127.0.0.1', port: stack.registrar.tlsPort },
    verifier: { host: '127.0.0.1', port: verifier.port },
    tls: stack.client,
    retry: { retryInterval: 0.2, maxRetries: 2, exponentialBackoff: false },
  });

  imaFile = join(stack.dir, 'ascii_runtime_measurements');
  writeFileSync(imaFile, '');
  const tpm = await newTpm(stack);
  certStore = await CertStore.load(tpm.caStoreDir);
  agent = await startAgent(stack.agentOptions(tpm, ID, { imaLog: imaFile }));

  const dirs = ['/usr/bin', '/usr/sbin', '/usr/lib64', '/usr/libexec', '/usr/lib/systemd'];
  bootList = Array.from({ length: BOOT_LINES }, (_, i) => imaNgMeasurement(`${dirs[i % dirs.length]}/prog-${i}`, `boot content ${i}`));
  await measure(...bootList);

  // The operator's policy: every file this machine ran at boot, plus excludes.
  const created = createRuntimePolicy(bootList.map((m) => m.line).join('\n') + '\n', { excludes: EXCLUDES, logHashAlg: 'sha1' });
  expect(created.skipped).toEqual([]);
  policy = created.policy;
}, 120_000);

afterAll(async () => {
  await tenant?.close();
  await admin?.close();
  await verifier?.close();
  await agent?.close();
  await webhook?.close();
  await stack?.close();
});

describe('IMA end to end: swtpm PCR 10, agent --ima-log, verifier, tenant', () => {
  it('the policy lists all 10,000 measured files', () => {
    expect(Object.keys(policy.digests)).toHaveLength(BOOT_LINES);
    expect(policy.excludes).toEqual(EXCLUDES);
  });

  it('an inline DSSE policy whose signature fails under runtime_policy_key is refused at enrollment; the agent is not added', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const envelope = signDsseEnvelope(Buffer.from(JSON.stringify(policy)), other.privateKey);
    const reg = (await stack.registrarTenant.get<Record<string, unknown>>(`/v2.2/agents/${ID}`)).body!.results;
    const r = await admin.post<Record<string, unknown>>(
      `/v2.2/agents/${ID}`,
      directEnrollmentBody(Number(reg.port), String(reg.mtls_cert), String(reg.aik_tpm), {
        v: null,
        tpm_policy: '{"mask": "0x400"}',
        runtime_policy: Buffer.from(JSON.stringify(envelope)).toString('base64'),
        runtime_policy_key: Buffer.from(signer.publicKey.export({ format: 'pem', type: 'spki' }) as string).toString('base64'),
      }),
    );
    expect(r.status).toBe(401);
    expect(r.body?.status).toMatch(/DSSE signature/);
    expect((await agentStatus(admin, ID)).status).toBe(404);
  });

  it('reaches Get Quote with the matching runtime policy; the first poll fetched the whole list', async () => {
    const started = Date.now();
    const added = await addAgent(tenant, {
      agentId: ID,
      runtimePolicy: JSON.stringify(policy),
      certStore,
      requireEkCert: true,
      wait: true,
      timeoutSeconds: 30,
    });
    expect(added.status?.state).toBe('Get Quote');
    const s = await status();
    expect(s.operational_state).toBe(State.GET_QUOTE);
    expect(s.has_runtime_policy).toBe(1);
    expect(JSON.parse(String(s.tpm_policy)).mask).toBe('0x400');
    expect(imaState().nextEntry).toBe(BOOT_LINES);
    expect(recorder.polls[0]).toMatchObject({ imaMlEntry: 0, status: 200, replyEntry: 0, lines: BOOT_LINES });
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('later polls ask for ima_ml_entry past what is attested and receive only new lines; an excluded path passes', async () => {
    const quiet = await morePolls(2);
    for (const p of quiet) expect(p).toMatchObject({ imaMlEntry: BOOT_LINES, replyEntry: BOOT_LINES, lines: 0 });

    // Written after boot: an excluded log file and a cache file (second exclude, a prefix match).
    await measure(imaNgMeasurement('/var/log/messages', 'syslog 1'), imaNgMeasurement('/home/alice/.cache/thumbnails/x.png', 'png'));
    // A quote taken between the append and the extend matches a prefix: the verifier keeps the surplus lines for later.
    await waitFor('the two new entries attested', 15_000, async () => imaState().nextEntry === BOOT_LINES + 2);
    const after = await morePolls(1);
    // Entries only move forward, and no poll re-fetched the boot list.
    const entries = recorder.polls.map((p) => p.imaMlEntry);
    expect(entries.slice(1).every((e) => e >= BOOT_LINES)).toBe(true);
    expect(entries).toEqual([...entries].sort((a, b) => a - b));
    expect(recorder.polls.slice(1).every((p) => p.lines <= 2)).toBe(true);
    expect(after.at(-1)).toMatchObject({ imaMlEntry: BOOT_LINES + 2, lines: 0 });
    expect((await status()).operational_state).toBe(State.GET_QUOTE);
  });

  it('an unlisted file measured later turns the agent to Invalid Quote with not_in_allowlist naming the path', async () => {
    await measure(imaNgMeasurement('/tmp/dropper', 'evil'));
    const failed = await waitFor('Invalid Quote', 15_000, async () => {
      const s = await status();
      return s.operational_state === State.INVALID_QUOTE ? s : undefined;
    });
    expect(failed.last_event_id).toBe('ima.validation.ima-ng.not_in_allowlist');
    // The failing poll fetched just the new line.
    const last = recorder.polls.at(-1)!;
    expect(last).toMatchObject({ imaMlEntry: BOOT_LINES + 2, lines: 1 });

    const note = await waitFor('revocation at the webhook', 10_000, async () => webhook.received.find((n) => JSON.parse(n.msg).agent_id === ID));
    const msg = JSON.parse(note.msg);
    expect(msg.event_id).toBe('ima.validation.ima-ng.not_in_allowlist');
    expect(JSON.parse(msg.context)).toMatchObject({ message: 'File not found in allowlist: /tmp/dropper' });
    // Invalid Quote stops polling.
    const polls = recorder.polls.length;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(recorder.polls.length).toBe(polls);
  });
});
