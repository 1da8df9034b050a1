import { X509Certificate } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, readTlsMaterial } from '../crypto/ca.js';
import { CertStore } from '../crypto/ek-cert.js';
import { KeylimeError } from '../errors.js';
import { createRuntimePolicy } from '../ima/index.js';
import { verifyRevocationSignature } from '../servers/agent/revocation.js';
import { State } from '../servers/verifier/states.js';
import { addAgent } from '../tenant/add-agent.js';
import { TenantContext } from '../tenant/context.js';
import { registrarStatus, verifierStatus } from '../tenant/status.js';
import { startSwtpm, type Swtpm } from '../tpm/swtpm.js';
import { freePort } from '../util/ports.js';
import { Tpm } from '../tpm/tpm.js';
import { syntheticBoot, imaNgMeasurement, type SyntheticMeasurement } from './ima-synth.js';
import { MachineTokenDemo } from './machine-token.js';
import { keylimeBin, startServer, waitForPort, type ServerProcess } from './processes.js';

export const DEMO_AGENT_ID = 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000';

export interface DemoStep {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface DemoReporter {
  begin(title: string): void;
  end(step: DemoStep): void;
}

export interface DemoOptions {
  keep?: boolean;
  reporter?: DemoReporter;
  /** Seconds between quotes (default 1). */
  quoteInterval?: number;
  /** IMA entries in the synthetic boot (default 200). */
  imaEntries?: number;
}

export interface DemoResult {
  ok: boolean;
  workspace: string;
  steps: DemoStep[];
  /** With --keep: how to talk to what is still running. */
  keep?: { ports: Record<string, number>; commands: string[] };
}

interface Notification {
  msg: string;
  signature: string;
}

async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new KeylimeError('verification', `timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The whole system on this machine: a software TPM with an EK certificate, registrar,
 * verifier and agent as separate processes on free loopback ports, enrollment with a PCR
 * policy, a runtime policy and a payload, an SSH key handed out through the machine API,
 * then an unlisted program runs and the verifier must catch it, notify, and cut the key off.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const reporter = options.reporter ?? { begin: () => {}, end: () => {} };
  const workspace = mkdtempSync(join(tmpdir(), 'keylime-ts-demo-'));
  const steps: DemoStep[] = [];
  const servers: ServerProcess[] = [];
  const notifications: Notification[] = [];
  let swtpm: Swtpm | undefined;
  let webhook: Server | undefined;
  let tenant: TenantContext | undefined;
  let tokens: MachineTokenDemo | undefined;
  let torn = false;

  // What lives in this process: closed at the end in every case, so the process can exit
  // (with --keep, the servers and swtpm run on in their own process groups).
  const releaseLocal = async () => {
    await tokens?.close();
    await tenant?.close();
    await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()));
  };
  const teardown = async () => {
    if (torn) return;
    torn = true;
    await releaseLocal();
    await Promise.all(servers.map((s) => s.stop()));
    await swtpm?.stop();
    rmSync(workspace, { recursive: true, force: true });
  };
  const onSignal = () => {
    void teardown().finally(() => process.exit(130));
  };
  if (!options.keep) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  const step = async (name: string, fn: () => Promise<string>): Promise<void> => {
    reporter.begin(name);
    const started = performance.now();
    try {
      const detail = await fn();
      const s = { name, ok: true, ms: Math.round(performance.now() - started), detail };
      steps.push(s);
      reporter.end(s);
    } catch (e) {
      const s = { name, ok: false, ms: Math.round(performance.now() - started), detail: e instanceof Error ? e.message : String(e) };
      steps.push(s);
      reporter.end(s);
      throw e;
    }
  };

  const caDir = join(workspace, 'cv_ca');
  const imaLog = join(workspace, 'ascii_runtime_measurements');
  const ports: Record<string, number> = {};
  let tpmTools: Tpm | undefined;
  const extendPcr10 = async (measurements: SyntheticMeasurement[]) =>
    tpmTools!.pcrExtendMany(measurements.flatMap((m) => [
      { pcr: 10, bank: 'sha1' as const, digest: m.extend.sha1 },
      { pcr: 10, bank: 'sha256' as const, digest: m.extend.sha256 },
    ]));

  try {
    await step('Software TPM, CA and a measured boot', async () => {
      await initCa(caDir, { hosts: ['127.0.0.1'] });
      swtpm = await startSwtpm({ dir: join(workspace, 'swtpm'), detached: options.keep });
      cpSync(swtpm.caStoreDir, join(workspace, 'tpm_cert_store'), { recursive: true });
      tpmTools = new Tpm({ workDir: join(workspace, 'tpm-tools'), tcti: swtpm.tcti });
      const boot = syntheticBoot(options.imaEntries ?? 200);
      writeFileSync(imaLog, boot.map((m) => m.line + '\n').join(''));
      await extendPcr10(boot);
      return `swtpm on port ${swtpm.port} with an EK certificate; ${boot.length} programs measured into PCR 10`;
    });

    await step('Registrar, verifier and agent started', async () => {
      for (const name of ['registrar', 'registrarTls', 'verifier', 'agent']) ports[name] = await freePort();
      webhook = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          try {
            notifications.push(JSON.parse(body) as Notification);
          } catch {
            /* not a notification */
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((r) => webhook!.listen(0, '127.0.0.1', r));
      ports.webhook = (webhook.address() as { port: number }).port;
      const common = ['--host', '127.0.0.1'];
      servers.push(
        startServer('registrar', ['registrar', 'start', ...common, '--port', String(ports.registrar), '--tls-port', String(ports.registrarTls), '--data-dir', join(workspace, 'registrar'), '--cert-dir', caDir, '--tpm-cert-store', join(workspace, 'tpm_cert_store')], join(workspace, 'registrar.log')),
        startServer('verifier', ['verifier', 'start', ...common, '--port', String(ports.verifier), '--data-dir', join(workspace, 'verifier'), '--cert-dir', caDir,
          '--quote-interval', String(options.quoteInterval ?? 1), '--webhook', `http://127.0.0.1:${ports.webhook}/revocation`, '--revocation-notify', 'agent,webhook'], join(workspace, 'verifier.log')),
      );
      await Promise.all([waitForPort(servers[0]!, ports.registrar!), waitForPort(servers[0]!, ports.registrarTls!), waitForPort(servers[1]!, ports.verifier!)]);
      servers.push(
        startServer('agent', ['agent', 'start', ...common, '--uuid', DEMO_AGENT_ID, '--port', String(ports.agent), '--registrar', `127.0.0.1:${ports.registrar}`,
          '--tcti', swtpm!.tcti, '--data-dir', join(workspace, 'agent'), '--trusted-client-ca', join(caDir, 'cacert.crt'),
          '--ima-log', imaLog, '--event-log', join(workspace, 'no-event-log')], join(workspace, 'agent.log')),
      );
      await waitForPort(servers[2]!, ports.agent!, 60_000);
      tenant = new TenantContext({
        registrar: { host: '127.0.0.1', port: ports.registrarTls! },
        verifier: { host: '127.0.0.1', port: ports.verifier! },
        tls: readTlsMaterial(caDir, 'client'),
        retry: { retryInterval: 0.5, maxRetries: 4, exponentialBackoff: false },
      });
      await poll('the agent to register and activate', 30_000, async () => (await registrarStatus(tenant!, DEMO_AGENT_ID)) ?? undefined);
      return `registrar :${ports.registrar}/:${ports.registrarTls}, verifier :${ports.verifier}, agent :${ports.agent} (registered, TPM credential activated)`;
    });

    await step('Enrolled with a PCR policy, a runtime policy and a payload', async () => {
      const { policy } = createRuntimePolicy(readFileSync(imaLog, 'utf8'));
      const result = await addAgent(tenant!, {
        agentId: DEMO_AGENT_ID,
        tpmPolicy: JSON.stringify({ 15: '0'.repeat(64) }),
        runtimePolicy: JSON.stringify(policy),
        payload: { kind: 'zip', entries: [{ name: 'hello.txt', data: Buffer.from('Only an attested machine reads this.\n') }] },
        certStore: await CertStore.load(join(workspace, 'tpm_cert_store')),
        requireEkCert: true,
        verify: true,
        wait: true,
        timeoutSeconds: 30,
      });
      return `EK certificate ${result.ek_certificate.status}, payload decrypted by the agent, key derivation verified, state ${result.status?.state}`;
    });

    let countAfterEnroll = 0;
    await step('Attested continuously', async () => {
      countAfterEnroll = (await verifierStatus(tenant!, DEMO_AGENT_ID))?.attestation_count ?? 0;
      const s = await poll('the attestation count to rise', 15_000, async () => {
        const st = await verifierStatus(tenant!, DEMO_AGENT_ID);
        return st && st.attestation_count >= countAfterEnroll + 2 ? st : undefined;
      });
      return `attestation count ${countAfterEnroll} -> ${s.attestation_count}, state ${s.state}`;
    });

    tokens = new MachineTokenDemo({ caDir, verifierPort: ports.verifier!, agentId: DEMO_AGENT_ID });
    await step('SSH key handed out to the attested machine', async () => tokens!.attachAndFetch());

    let extendedAt = 0;
    await step('An unlisted program runs', async () => {
      const evil = imaNgMeasurement('/tmp/cryptominer', 'not in any policy');
      appendFileSync(imaLog, evil.line + '\n');
      await extendPcr10([evil]);
      extendedAt = Date.now();
      return `/tmp/cryptominer measured by IMA (log line + PCR 10 extend)`;
    });

    await step('Detected by the verifier', async () => {
      const s = await poll('the verifier to flag the agent', 20_000, async () => {
        const st = await verifierStatus(tenant!, DEMO_AGENT_ID);
        return st && st.operational_state === State.INVALID_QUOTE ? st : undefined;
      });
      if (s.last_event_id !== 'ima.validation.ima-ng.not_in_allowlist') {
        throw new KeylimeError('verification', `expected ima.validation.ima-ng.not_in_allowlist, got ${s.last_event_id}`);
      }
      return `${s.state}: ${s.last_event_id}, ${((Date.now() - extendedAt) / 1000).toFixed(1)} s after the program ran`;
    });

    await step('Revocation notification received by the webhook', async () => {
      const n = await poll('the webhook notification', 20_000, async () => notifications.find((x) => (JSON.parse(x.msg) as { type?: string }).type === 'revocation'));
      const msg = JSON.parse(n.msg) as { agent_id: string; event_id?: string };
      const cert = new X509Certificate(readFileSync(join(workspace, 'agent', 'secure', 'unzipped', 'RevocationNotifier-cert.crt')));
      const problem = verifyRevocationSignature(cert, n);
      if (problem) throw new KeylimeError('verification', `the notification's signature does not verify: ${problem}`);
      return `agent ${msg.agent_id}, event ${msg.event_id}, signature verified with the RevocationNotifier certificate`;
    });

    await step('SSH key now refused', async () => tokens!.expectRefused());

    if (options.keep) {
      await releaseLocal();
      for (const server of servers) server.child.unref();
      const flags = `--registrar 127.0.0.1:${ports.registrarTls} --verifier 127.0.0.1:${ports.verifier} --cert-dir ${caDir}`;
      const cli = keylimeBin;
      const pids = servers.map((s) => s.child.pid).filter(Boolean).join(' ');
      return {
        ok: true,
        workspace,
        steps,
        keep: {
          ports,
          commands: [
            `${cli} tenant status --uuid ${DEMO_AGENT_ID} ${flags}`,
            `${cli} tenant list ${flags}`,
            `${cli} tenant reactivate --uuid ${DEMO_AGENT_ID} ${flags}`,
            `kill ${pids}; swtpm_ioctl --tcp 127.0.0.1:${swtpm!.ctrlPort} -s; rm -rf ${workspace}`,
          ],
        },
      };
    }
    return { ok: true, workspace, steps };
  } catch (e) {
    if (!(e instanceof KeylimeError)) steps.push({ name: 'internal error', ok: false, ms: 0, detail: (e as Error).stack ?? String(e) });
    if (options.keep) await teardown();
    return { ok: false, workspace, steps };
  } finally {
    if (!options.keep) await teardown();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
