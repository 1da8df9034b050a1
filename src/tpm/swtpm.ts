/**
 * A real software TPM (for tests and `keylime-ts demo`): each call manufactures a fresh TPM state with swtpm_setup
 * (EK certificate in NV 0x1c00002 signed by a private local CA, recipe of tpm-tooling.md §2.1)
 * and runs `swtpm socket` on free loopback ports. Instances are independent and are killed
 * when stopped, and in any case when the test process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort, isPortFree, waitUntilListening } from '../util/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SwtpmOptions {
  /** Create EK and platform certificates (default true). */
  ekCert?: boolean;
  /** Outlive this process (demo --keep): no kill at exit, stop() still works. Default false. */
  detached?: boolean;
  /** Working directory to create the TPM in (default: a new temporary directory). */
  dir?: string;
  /** PCR banks to activate (default "sha1,sha256"). */
  pcrBanks?: string;
}

export interface Swtpm {
  /** TCTI string for tpm2-tools (TPM2TOOLS_TCTI / -T). */
  tcti: string;
  port: number;
  ctrlPort: number;
  /** Working directory: TPM state, local CA, logs. Removed by stop(). */
  dir: string;
  /** PEM certificates of the local CA that signed the EK certificate: [root, intermediate]. */
  caCerts: string[];
  /** Directory holding only the CA PEM files, usable as a tpm_cert_store. */
  caStoreDir: string;
  /** Environment for child processes running tpm2-tools against this TPM. */
  env: NodeJS.ProcessEnv;
  /** Shut the TPM down and start it again (same ports when free): a TPM Reset (PCRs cleared, transient objects gone). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

function manufacture(dir: string, options: SwtpmOptions): { stateDir: string; caDir: string } {
  const caDir = join(dir, 'localca');
  const stateDir = join(dir, 'state');
  mkdirSync(caDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const banks = options.pcrBanks ?? 'sha1,sha256';
  writeFileSync(
    join(caDir, 'swtpm-localca.conf'),
    `statedir = ${caDir}\nsigningkey = ${caDir}/signkey.pem\nissuercert = ${caDir}/issuercert.pem\ncertserial = ${caDir}/certserial\n`,
  );
  writeFileSync(
    join(caDir, 'swtpm-localca.options'),
    '--platform-manufacturer KeylimeTs\n--platform-version 2.1\n--platform-model swtpm\n',
  );
  writeFileSync(
    join(caDir, 'swtpm_setup.conf'),
    `create_certs_tool= /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${caDir}/swtpm-localca.conf\n` +
      `create_certs_tool_options = ${caDir}/swtpm-localca.options\nactive_pcr_banks = ${banks}\n`,
  );
  const certArgs = options.ekCert === false ? [] : ['--create-ek-cert', '--create-platform-cert'];
  run('swtpm_setup', [
    '--tpm2', '--tpmstate', stateDir, '--config', join(caDir, 'swtpm_setup.conf'),
    ...certArgs, '--lock-nvram', '--overwrite', '--pcr-banks', banks,
  ]);
  return { stateDir, caDir };
}

export async function startSwtpm(options: SwtpmOptions = {}): Promise<Swtpm> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kts-swtpm-'));
  const { stateDir, caDir } = manufacture(dir, options);
  let child: ChildProcess | undefined;
  let port = 0;
  let ctrlPort = 0;

  const launch = async (samePorts = false) => {
    // A port found free may be taken before swtpm binds it; try a few times.
    for (let attempt = 0; ; attempt++) {
      // The swtpm TCTI always talks to the control channel at port + 1. A restart keeps the
      // ports when it can, so a running agent finds its TPM again after the reset.
      if (!(samePorts && attempt === 0)) {
        port = await freePort();
        ctrlPort = port + 1;
        if (!(await isPortFree(ctrlPort))) continue;
      }
      const proc = spawn(
        'swtpm',
        [
          'socket', '--tpm2', '--tpmstate', `dir=${stateDir}`,
          '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
          '--ctrl', `type=tcp,port=${ctrlPort},bindaddr=127.0.0.1`,
          '--flags', 'not-need-init,startup-clear',
          '--log', `file=${join(dir, 'swtpm.log')},level=1`,
        ],
        { stdio: 'ignore', detached: options.detached === true },
      );
      if (options.detached) proc.unref();
      else {
        running.add(proc);
        proc.on('exit', () => running.delete(proc));
      }
      try {
        const problem = await waitUntilListening(proc, port, 10_000);
        if (problem) throw new Error(`swtpm ${problem}`);
        child = proc;
        return;
      } catch (e) {
        proc.kill('SIGKILL');
        if (attempt >= 4) throw e;
      }
    }
  };

  const shutdown = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // Orderly shutdown saves state; fall back to a kill if it does not answer.
    spawnSync('swtpm_ioctl', ['--tcp', `127.0.0.1:${ctrlPort}`, '-s'], { timeout: 3000 });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  const caCerts = options.ekCert === false
    ? []
    : [readFileSync(join(caDir, 'swtpm-localca-rootca-cert.pem'), 'utf8'), readFileSync(join(caDir, 'issuercert.pem'), 'utf8')];
  const caStoreDir = join(dir, 'cert-store');
  mkdirSync(caStoreDir);
  caCerts.forEach((pem, i) => writeFileSync(join(caStoreDir, i === 0 ? 'swtpm-root.pem' : 'swtpm-intermediate.pem'), pem));

  const instance: Swtpm = {
    get tcti() {
      return `swtpm:host=127.0.0.1,port=${port}`;
    },
    get port() {
      return port;
    },
    get ctrlPort() {
      return ctrlPort;
    },
    get env() {
      return { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${port}` };
    },
    dir,
    caCerts,
    caStoreDir,
    async restart() {
      await shutdown();
      await launch(true);
    },
    async stop() {
      await shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return instance;
}

export { freePort };
