import type { TLSSocket, PeerCertificate } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/** The verified client certificate of a request, or undefined when there is none or it did not verify. */
export function verifiedPeer(request: FastifyRequest): PeerCertificate | undefined {
  const socket = request.raw.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  return cert && Object.keys(cert).length > 0 ? cert : undefined;
}

/** Route option: `config: { auth: 'public' }` opens a route to callers without a client certificate. */
export type RouteAuth = 'client-cert' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}
