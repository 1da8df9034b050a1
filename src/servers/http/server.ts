import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { PeerCertificate } from 'node:tls';
import { KeylimeError, isKeylimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { failure, success } from './envelope.js';
import { verifiedPeer } from './auth.js';
import { versionInPath } from './versions.js';

export interface TlsOptions {
  cert: string;
  key: string;
  /** Trust anchors for client certificates (the CA plus any pinned extra certificates). */
  ca?: string[];
  /**
   * 'required': the handshake fails without a client certificate from `ca`.
   * 'optional': the handshake accepts any client; routes check the certificate unless
   *  marked `config: { auth: 'public' }` (Keylime HEAD's verifier: /version is public).
   * 'none': no client certificates asked for.
   */
  clientAuth: 'required' | 'optional' | 'none';
}

export interface ServerOptions {
  name: string;
  /** Plain HTTP when absent. */
  tls?: TlsOptions;
  /** Largest accepted request body in bytes (verifier: 100 MiB like Keylime; others 1 MiB). */
  bodyLimit?: number;
  /** API versions served; every route registered through `routes` appears under each /v<ver>. */
  versions: readonly string[];
  /** results of GET /version. */
  versionInfo: () => Record<string, unknown>;
  /** Registers the versioned routes on a scope whose prefix is /v<ver>. */
  routes: (scope: FastifyInstance, version: string) => void;
  /** Registers unversioned routes (besides /version). */
  rootRoutes?: (app: FastifyInstance) => void;
  logger?: Logger;
  /**
   * With clientAuth 'optional': a further check of a verified client certificate on
   * non-public routes; returns why it is refused, or undefined to let it through.
   */
  refusePeer?: (peer: PeerCertificate) => string | undefined;
  /** Message for an unknown path under a supported version or outside any version. */
  notFoundStatus?: (request: FastifyRequest) => string;
}

export const MiB = 1024 * 1024;

/**
 * The one HTTP(S) server every keylime-ts component uses: fastify on node:https with
 * optional client-certificate verification, Keylime's {code,status,results} envelope on
 * every answer, and the same handlers under every supported /vX.Y prefix.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  const log = options.logger ?? silentLogger;
  const tls = options.tls;
  const app = Fastify({
    logger: false,
    // Wire types are strict: a number where a string is due is a 400, not silently coerced.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    bodyLimit: options.bodyLimit ?? MiB,
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            ca: tls.ca,
            requestCert: tls.clientAuth !== 'none',
            rejectUnauthorized: tls.clientAuth === 'required',
            minVersion: 'TLSv1.2' as const,
          },
        }
      : {}),
  }) as unknown as FastifyInstance;

  // Keylime servers read JSON whatever the Content-Type says (older agents sent none).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new KeylimeError('invalid_input', 'Malformed JSON in request body'), undefined);
    }
  });

  if (tls?.clientAuth === 'optional') {
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config?.auth === 'public') return;
      const peer = verifiedPeer(request);
      if (!peer) {
        await reply.code(403).send(failure(403, 'Forbidden: a client certificate signed by the trusted CA is required'));
        return;
      }
      const refusal = options.refusePeer?.(peer);
      if (refusal) await reply.code(403).send(failure(403, `Forbidden: ${refusal}`));
    });
  }

  app.setErrorHandler((error: FastifyError | KeylimeError, request, reply) => {
    if (isKeylimeError(error)) {
      if (error.status >= 500) log.error(`${options.name}: ${error.message}`, { url: request.url });
      return reply.code(error.status).send(failure(error.status, error.message));
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const first = fe.validation[0];
      const field = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
      const where = fe.validationContext ?? 'body';
      return reply.code(400).send(failure(400, `Invalid ${where}${field ? ` field '${field}'` : ''}: ${first?.message ?? fe.message}`));
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(failure(413, `Request body too large (limit ${options.bodyLimit ?? MiB} bytes)`));
    }
    const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
    if (status === 500) log.error(`${options.name}: unhandled error`, { url: request.url, error: fe.message });
    return reply.code(status).send(failure(status, status === 500 ? 'Internal Server Error' : fe.message));
  });

  app.setNotFoundHandler((request, reply) => {
    const version = versionInPath(request.url);
    if (version !== undefined && !options.versions.includes(version)) {
      return reply.code(400).send(failure(400, `API version not supported: v${version}`));
    }
    return reply.code(404).send(failure(404, options.notFoundStatus?.(request) ?? 'Not Found'));
  });

  app.get('/version', { config: { auth: 'public' } }, async () => success(options.versionInfo()));
  options.rootRoutes?.(app);
  for (const version of options.versions) {
    void app.register(
      async (scope) => {
        options.routes(scope, version);
      },
      { prefix: `/v${version}` },
    );
  }
  return app;
}

/** Starts listening; resolves with the bound port (useful with port 0 in tests). */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}

/** Sends an envelope with a non-200 success code (201, 202) or an empty 204. */
export function sendStatus(reply: FastifyReply, code: number, results: Record<string, unknown> = {}): FastifyReply {
  if (code === 204) return reply.code(204).send();
  return reply.code(code).send(success(results, code));
}
