/**
 * Who is calling the machine API, from the TLS client certificate (privacyIDEA uses admin
 * JWTs; here the verifier's mTLS decides, and no PI-Authorization header is read):
 *
 * - machine: a certificate from the verifier CA whose CN is the id of an agent this
 *   verifier knows (`keylime-ts ca issue --kind client --name <agent-id>`), or exactly
 *   the agent's own mTLS certificate pinned at registration (self-signed, so it is not
 *   CA-verified; the TLS handshake proved the caller holds its key).
 * - admin: any other certificate from the CA (the cv_ca `client` certificate), except
 *   CNs shaped like agent ids (a UUID, or 64 hex digits as hash_ek): those belong to a
 *   machine this verifier does not know (any more) and are refused, so deleting an agent
 *   never turns its certificate into an administrator. With `adminNames`, only those CNs.
 * - plain HTTP (a verifier started without TLS, and inject() in tests): admin, as every
 *   other verifier endpoint is open then.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { MachineAgentInfo, MachineAgentSource } from './deps.js';

export type Caller =
  | { role: 'admin'; name: string }
  | { role: 'machine'; agentId: string; via: 'ca-certificate' | 'pinned-certificate' }
  | { role: 'refused'; code: 4033 | 4304; reason: string };

/** The TLS facts about a request: 'plain' without TLS, undefined without a client certificate. */
export type PeerFacts = 'plain' | undefined | { authorized: boolean; commonName: string | undefined; der: Buffer };

export function peerFacts(request: FastifyRequest): PeerFacts {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return 'plain';
  const cert: PeerCertificate | undefined = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0 || !cert.raw) return undefined;
  return { authorized: socket.authorized === true, commonName: commonNameOf(cert), der: cert.raw };
}

function commonNameOf(cert: PeerCertificate): string | undefined {
  const cn = (cert.subject as unknown as Record<string, unknown> | undefined)?.CN;
  if (typeof cn === 'string') return cn;
  // Several CN attributes: ambiguous, so no identity from it.
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HASH_EK = /^[0-9a-f]{64}$/i;

export function looksLikeAgentId(name: string): boolean {
  return UUID.test(name) || HASH_EK.test(name);
}

/** DER of a pinned PEM certificate, parsed once per distinct PEM. */
export class PinnedCertificates {
  private readonly cache = new Map<string, Buffer | null>();

  der(pem: string): Buffer | null {
    let der = this.cache.get(pem);
    if (der === undefined) {
      try {
        der = new X509Certificate(pem).raw;
      } catch {
        der = null;
      }
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(pem, der);
    }
    return der;
  }

  matches(agent: MachineAgentInfo | undefined, der: Buffer): boolean {
    if (!agent?.mtls_cert) return false;
    const pinned = this.der(agent.mtls_cert);
    return pinned !== null && pinned.equals(der);
  }
}

export function identifyCaller(
  peer: PeerFacts,
  agents: MachineAgentSource,
  pinned: PinnedCertificates,
  adminNames?: readonly string[],
): Caller {
  if (peer === 'plain') return { role: 'admin', name: 'plain-http' };
  if (peer === undefined) {
    return { role: 'refused', code: 4033, reason: 'A client certificate is required (the verifier CA client certificate, or a machine certificate).' };
  }
  const cn = peer.commonName;
  if (!peer.authorized) {
    // Not from the CA: acceptable only as an agent's own pinned certificate.
    const byName = cn !== undefined ? agents.get(cn) : undefined;
    if (byName && pinned.matches(byName, peer.der)) return { role: 'machine', agentId: byName.agent_id, via: 'pinned-certificate' };
    const other = agents.list().find((a) => pinned.matches(a, peer.der));
    if (other) return { role: 'machine', agentId: other.agent_id, via: 'pinned-certificate' };
    return { role: 'refused', code: 4304, reason: 'The client certificate is neither signed by the verifier CA nor an agent\'s pinned certificate.' };
  }
  if (cn === undefined) return { role: 'refused', code: 4304, reason: 'The client certificate has no single common name.' };
  if (agents.get(cn)) return { role: 'machine', agentId: cn, via: 'ca-certificate' };
  if (adminNames) {
    if (adminNames.includes(cn)) return { role: 'admin', name: cn };
    return { role: 'refused', code: 4304, reason: `The certificate ${cn} is neither an administrator's nor an agent's of this verifier.` };
  }
  if (looksLikeAgentId(cn)) {
    return { role: 'refused', code: 4304, reason: `The certificate names agent ${cn}, which this verifier does not know.` };
  }
  return { role: 'admin', name: cn };
}
