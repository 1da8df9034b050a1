import { constants, generateKeyPairSync, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { VerifierMetrics } from '../../../src/servers/verifier/metrics.js';
import type { VerifierAgent } from '../../../src/servers/verifier/record.js';
import { RevocationNotifier, asctime, revocationMessage, signRevocationMessage } from '../../../src/servers/verifier/revocation.js';
import { SeverityPolicy } from '../../../src/servers/verifier/severity.js';
import { SERVER_API_VERSIONS } from '../../../src/servers/http/versions.js';
import { SoftAgent } from '../../support/soft-agent.js';
import { makeHarness } from './harness.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const REVOCATION_KEY = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function agentRecord(over: Partial<VerifierAgent> = {}): VerifierAgent {
  return {
    agent_id: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000',
    ip: '10.0.0.5',
    port: 9002,
    tpm_policy: '{"mask": "0x0"}',
    meta_data: '{}',
    revocation_key: REVOCATION_KEY,
    ...over,
  } as VerifierAgent;
}

const event = new SeverityPolicy().rank({
  eventId: 'pcr_validation.invalid_pcr_15',
  recoverable: true,
  context: { context: 'PCR value is not in allowlist', got: 'ab', expected: ['cd'] },
});

describe('revocation message (§9)', () => {
  it('is the Python json.dumps text of prepare_error, asctime included', () => {
    const when = new Date(2026, 7, 3, 7, 14, 14);
    expect(asctime(when)).toBe('Mon Aug  3 07:14:14 2026');
    expect(asctime(new Date(2026, 11, 25, 23, 5, 9))).toBe('Fri Dec 25 23:05:09 2026');
    expect(revocationMessage(agentRecord(), 'revocation', event, when)).toBe(
      '{"type": "revocation", "ip": "10.0.0.5", "agent_id": "d432fbb3-d2f1-4a97-9ef7-75bd81c00000", "port": 9002, ' +
        '"tpm_policy": "{\\"mask\\": \\"0x0\\"}", "meta_data": "{}", "event_time": "Mon Aug  3 07:14:14 2026", ' +
        '"event_id": "pcr_validation.invalid_pcr_15", "severity_label": "emergency", ' +
        '"context": "{\\"context\\": \\"PCR value is not in allowlist\\", \\"got\\": \\"ab\\", \\"expected\\": [\\"cd\\"]}"}',
    );
    expect(revocationMessage(agentRecord({ meta_data: '{"subject": "é"}' }), 'comm_error', undefined, when)).toBe(
      '{"type": "comm_error", "ip": "10.0.0.5", "agent_id": "d432fbb3-d2f1-4a97-9ef7-75bd81c00000", "port": 9002, ' +
        '"tpm_policy": "{\\"mask\\": \\"0x0\\"}", "meta_data": "{\\"subject\\": \\"\\u00e9\\"}", "event_time": "Mon Aug  3 07:14:14 2026"}',
    );
  });

  it('is signed RSA-PSS SHA-256 with the maximum salt, verifiable with the revocation certificate key', () => {
    const msg = revocationMessage(agentRecord(), 'revocation', event, new Date());
    const sig = Buffer.from(signRevocationMessage(msg, REVOCATION_KEY), 'base64');
    expect(sig).toHaveLength(256);
    const ok = (saltLength: number) => verify('sha256', Buffer.from(msg), { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig);
    expect(ok(256 - 32 - 2)).toBe(true); // maximum salt for RSA-2048 / SHA-256
    expect(ok(32)).toBe(false);
    expect(verify('sha256', Buffer.from(msg + ' '), { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)).toBe(false);
    expect(signRevocationMessage(msg, '')).toBe('');
  });
});

let server: Server | undefined;
afterEach(() => server?.close());

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => resolve(text));
  });
}

describe('delivery', () => {
  it('posts to the webhook, retrying with backoff until it answers 200', async () => {
    const received: { path: string; body: unknown }[] = [];
    let failuresLeft = 2;
    server = createServer(async (req, res) => {
      received.push({ path: req.url!, body: JSON.parse(await readBody(req)) });
      res.writeHead(failuresLeft-- > 0 ? 503 : 200).end('{}');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const h = await makeHarness();
    const metrics = new VerifierMetrics();
    const sleeps: number[] = [];
    const notifier = new RevocationNotifier({
      targets: new Set(['webhook']),
      webhookUrl: `http://127.0.0.1:${port}/hooks/keylime?x=1`,
      retry: { retryInterval: 2, maxRetries: 5, exponentialBackoff: true },
      agentVersions: SERVER_API_VERSIONS,
      verifierId: 'default',
      store: h.store,
      api: h.api,
      log: silentLogger,
      metrics,
      sleep: async (ms) => void sleeps.push(ms),
    });
    notifier.notify(agentRecord(), 'revocation', event);
    await notifier.settled();
    await notifier.close();
    expect(received).toHaveLength(3);
    expect(sleeps).toEqual([2000, 4000]);
    expect(received[0]!.path).toBe('/hooks/keylime?x=1');
    const body = received[2]!.body as { msg: string; signature: string };
    expect(JSON.parse(body.msg)).toMatchObject({ type: 'revocation', event_id: 'pcr_validation.invalid_pcr_15' });
    expect(verify('sha256', Buffer.from(body.msg), { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, Buffer.from(body.signature, 'base64'))).toBe(true);
    expect(metrics.notifications.get({ type: 'revocation', target: 'webhook', outcome: 'delivered' })).toBe(1);
  });

  it('posts to the other agents of this verifier at their API version', async () => {
    const h = await makeHarness();
    const a = new SoftAgent('fail-me');
    const b = new SoftAgent('peer');
    await h.enroll(a);
    await h.enroll(b, { supported_version: '2.2' });
    const metrics = new VerifierMetrics();
    const notifier = new RevocationNotifier({
      targets: new Set(['agent']),
      retry: { retryInterval: 2, maxRetries: 0, exponentialBackoff: true },
      agentVersions: SERVER_API_VERSIONS,
      verifierId: 'default',
      store: h.store,
      api: h.api,
      log: silentLogger,
      metrics,
    });
    notifier.notify(h.store.get('fail-me')!, 'revocation', event);
    await notifier.settled();
    const sent = h.api.calls.filter((c) => c.kind === 'revocation');
    expect(sent.map((c) => [c.agent, c.version])).toEqual([['peer', '2.2']]);
    expect(JSON.parse((sent[0]!.body as { msg: string }).msg).agent_id).toBe('fail-me');
    expect((sent[0]!.body as { signature: string }).signature).toBe(''); // this agent has no revocation key
  });
});
