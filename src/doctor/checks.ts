import { execa } from 'execa';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { caDir } from '../config.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found ("v24.21.0", "tpm2-tools 5.4"). */
  detail: string;
  /** The command that fixes the problem; present only when !ok. */
  fix?: string;
}

export interface DoctorOptions {
  dataDir: string;
  tcti: string;
}

const APT_FIX = 'apt-get update && apt-get install -y swtpm swtpm-tools tpm2-tools libtss2-tcti-swtpm0';

async function tool(cmd: string, args: string[], env?: NodeJS.ProcessEnv) {
  return execa(cmd, args, { reject: false, timeout: 10_000, env, extendEnv: true, stdin: 'ignore' });
}

export async function checkNode(): Promise<CheckResult> {
  const major = Number(process.versions.node.split('.')[0]);
  return major >= 22
    ? { name: 'node', ok: true, detail: process.version }
    : { name: 'node', ok: false, detail: `${process.version} is older than 22`, fix: 'scripts/setup.sh (installs Node 24 into .runtime/)' };
}

export async function checkTpm2Tools(): Promise<CheckResult> {
  const r = await tool('tpm2_getcap', ['--version']).catch(() => undefined);
  const version = r && r.exitCode === 0 ? /version="([^"]+)"/.exec(r.stdout)?.[1] : undefined;
  if (!version) return { name: 'tpm2-tools', ok: false, detail: 'not found', fix: APT_FIX };
  if (!version.startsWith('5.')) {
    return { name: 'tpm2-tools', ok: false, detail: `version ${version}, 5.x needed`, fix: APT_FIX };
  }
  return { name: 'tpm2-tools', ok: true, detail: `tpm2-tools ${version}` };
}

export async function checkSwtpm(): Promise<CheckResult> {
  const r = await tool('swtpm', ['--version']).catch(() => undefined);
  if (!r || r.exitCode !== 0) return { name: 'swtpm', ok: false, detail: 'not found', fix: APT_FIX };
  return { name: 'swtpm', ok: true, detail: r.stdout.split('\n')[0]!.trim() };
}

export async function checkTcti(tcti: string): Promise<CheckResult> {
  const r = await tool('tpm2_getcap', ['properties-fixed'], { TPM2TOOLS_TCTI: tcti }).catch(() => undefined);
  if (r && r.exitCode === 0) {
    const manufacturer = /TPM2_PT_MANUFACTURER:\s*\n?\s*raw:\s*(0x[0-9A-Fa-f]+)\s*\n\s*value:\s*"([^"]*)"/.exec(r.stdout);
    return { name: 'tpm', ok: true, detail: `${tcti} answers${manufacturer ? ` (manufacturer ${manufacturer[2]})` : ''}` };
  }
  const why = r ? (r.stderr.split('\n').find((l) => l.includes('ERROR')) ?? `exit ${r.exitCode}`) : 'tpm2_getcap not found';
  return {
    name: 'tpm',
    ok: false,
    detail: `${tcti} does not answer: ${why.trim()}`,
    fix: tcti.startsWith('device:')
      ? 'use a machine with a TPM (ls /dev/tpmrm0), or point --tcti / KEYLIME_TS_TCTI at a swtpm: swtpm:host=127.0.0.1,port=2321'
      : `start the TPM behind ${tcti}, or pass --tcti`,
  };
}

export async function checkDataDir(dataDir: string): Promise<CheckResult> {
  try {
    const s = await stat(dataDir);
    if (!s.isDirectory()) return { name: 'data-dir', ok: false, detail: `${dataDir} is not a directory`, fix: `mv ${dataDir} ${dataDir}.bak && mkdir -m 700 -p ${dataDir}` };
    const mode = s.mode & 0o777;
    if (mode !== 0o700) {
      return { name: 'data-dir', ok: false, detail: `${dataDir} has mode ${mode.toString(8).padStart(4, '0')}, 0700 expected`, fix: `chmod 700 ${dataDir}` };
    }
    return { name: 'data-dir', ok: true, detail: `${dataDir} (0700)` };
  } catch {
    return { name: 'data-dir', ok: false, detail: `${dataDir} does not exist`, fix: `mkdir -m 700 -p ${dataDir}` };
  }
}

export async function checkCa(dataDir: string): Promise<CheckResult> {
  const file = join(caDir(dataDir), 'cacert.crt');
  try {
    await stat(file);
    return { name: 'ca', ok: true, detail: file };
  } catch {
    return { name: 'ca', ok: false, detail: `no CA at ${caDir(dataDir)}`, fix: `keylime-ts ca init --data-dir ${dataDir}` };
  }
}

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  return Promise.all([
    checkNode(),
    checkTpm2Tools(),
    checkSwtpm(),
    checkTcti(options.tcti),
    checkDataDir(options.dataDir),
    checkCa(options.dataDir),
  ]);
}
