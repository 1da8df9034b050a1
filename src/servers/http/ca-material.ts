import { caExists, initCa, readTlsMaterial, type TlsMaterial } from '../../crypto/ca.js';
import type { Logger } from '../../log.js';

/**
 * TLS material for a server from a cv_ca-style directory. Like Keylime's tls_dir=generate,
 * a missing CA is created on first start (server certificate SANs include `hosts`).
 */
export async function serverTlsMaterial(dir: string, options: { hosts?: string[]; log?: Logger; create?: boolean } = {}): Promise<TlsMaterial> {
  if (!caExists(dir) && options.create !== false) {
    await initCa(dir, { hosts: options.hosts ?? [] });
    options.log?.info('created a new CA and certificates', { dir });
  }
  return readTlsMaterial(dir, 'server');
}

/** Client certificate material (for the tenant, and for the verifier talking to agents). */
export function clientTlsMaterial(dir: string): TlsMaterial {
  return readTlsMaterial(dir, 'client');
}
