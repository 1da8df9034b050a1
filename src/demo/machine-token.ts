import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { issueCertificate, readTlsMaterial } from '../crypto/ca.js';
import { KeylimeError, isKeylimeError } from '../errors.js';
import { MachineApiClient } from '../client/machines.js';

/** An OpenSSH public key line for a fresh Ed25519 key (the key a user would put on machines). */
export function ed25519PublicKeyLine(comment: string): string {
  const spki = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const raw = spki.subarray(spki.length - 32);
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

/**
 * The demo's machine-token part: an admin enrolls an SSH key token and attaches it to the
 * agent's machine; the machine, with its own certificate (CN = agent id), fetches it.
 */
export class MachineTokenDemo {
  private admin: MachineApiClient;
  private machine: MachineApiClient | undefined;
  private keyLine = ed25519PublicKeyLine('operator@keylime-ts-demo');

  constructor(private readonly o: { caDir: string; verifierPort: number; agentId: string }) {
    const tls = readTlsMaterial(o.caDir, 'client');
    this.admin = new MachineApiClient(this.origin, { tls: { ca: [tls.ca], cert: tls.cert, key: tls.key } });
  }

  private get origin(): string {
    return `https://127.0.0.1:${this.o.verifierPort}`;
  }

  private async machineClient(): Promise<MachineApiClient> {
    if (!this.machine) {
      const issued = await issueCertificate(this.o.caDir, { kind: 'client', name: this.o.agentId, outDir: join(this.o.caDir, '..', 'machine-cert') });
      const ca = readTlsMaterial(this.o.caDir, 'client').ca;
      this.machine = new MachineApiClient(this.origin, { tls: { ca: [ca], cert: issued.certPem, key: issued.keyPem } });
    }
    return this.machine;
  }

  async attachAndFetch(): Promise<string> {
    const { serial } = await this.admin.initToken({ type: 'sshkey', sshkey: this.keyLine, description: 'demo operator key' });
    await this.admin.attachToken({ serial, application: 'ssh', machineid: this.o.agentId, resolver: 'keylime', user: 'root' });
    const items = await (await this.machineClient()).authItems({ hostname: this.o.agentId }, 'ssh');
    const got = items.ssh?.[0]?.sshkey;
    if (got !== this.keyLine) throw new KeylimeError('verification', `the machine received ${JSON.stringify(got)} instead of the attached key`);
    return `token ${serial} attached to machine ${this.o.agentId}; the machine fetched "${this.keyLine.slice(0, 32)}..." with its own certificate`;
  }

  async expectRefused(): Promise<string> {
    try {
      await (await this.machineClient()).authItems({ hostname: this.o.agentId }, 'ssh');
    } catch (e) {
      if (isKeylimeError(e) && e.code === 'verification') return `refused (403): ${e.message}`;
      throw e;
    }
    throw new KeylimeError('verification', 'the machine still received its SSH key after failing attestation');
  }

  async close(): Promise<void> {
    await Promise.all([this.admin.close(), this.machine?.close()]);
  }
}
