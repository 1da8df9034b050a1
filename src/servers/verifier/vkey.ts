import { constants, publicEncrypt } from 'node:crypto';

/** V encrypted for the agent: RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label (§3.3), base64. */
export function encryptForAgent(nkPem: string, secret: Buffer): string {
  return publicEncrypt({ key: nkPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, secret).toString('base64');
}

/** One ciphertext per (agent, NK, V): OAEP is randomised, but re-encrypting each delivery is wasted work. */
export class VKeyCache {
  private readonly entries = new Map<string, { nk: string; v: string; ciphertext: string }>();

  encrypted(agentId: string, nkPem: string, vB64: string): string {
    const hit = this.entries.get(agentId);
    if (hit && hit.nk === nkPem && hit.v === vB64) return hit.ciphertext;
    const ciphertext = encryptForAgent(nkPem, Buffer.from(vB64, 'base64'));
    this.entries.set(agentId, { nk: nkPem, v: vB64, ciphertext });
    return ciphertext;
  }

  forget(agentId: string): void {
    this.entries.delete(agentId);
  }
}
