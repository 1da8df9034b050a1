/**
 * The privacyIDEA-compatible machine API on a fastify app (the verifier's): /machine,
 * /machineresolver, /token, /application and /validate/offlinerefill, answering in
 * privacyIDEA's envelope (also for errors and unknown paths under those prefixes), with
 * client-certificate callers (see caller.ts) and every change on disk before the answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isKeylimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import {
  MACHINE_ROUTES,
  authError,
  collectParams,
  errorEnvelope,
  parameterError,
  resourceNotFound,
  serializeEnvelope,
  successEnvelope,
  type AttestationGate,
  type EnvelopeResponse,
  type MachineContext,
  type MachineRoute,
} from '../../machines/index.js';
import { authorize, type MachineAccess } from './access.js';
import { PinnedCertificates, identifyCaller, peerFacts, type Caller } from './caller.js';
import type { AgentAttestation, MachineApiDeps } from './deps.js';
import { verifierMachineDirectory } from './directory.js';
import { clientFacingError } from './errors.js';
import { MachineStore } from './store.js';
import { TOKEN_ROUTES } from './token-routes.js';

export interface ServedRoute extends MachineRoute {
  machineAccess?: MachineAccess;
}

const MACHINE_ACCESS: Readonly<Record<string, MachineAccess>> = {
  'GET /machine/authitem': 'own-authitem',
  'GET /machine/authitem/:application': 'own-authitem',
  'POST /validate/offlinerefill': 'attested',
};

/** Every route the plugin serves, in registration order. */
export const SERVED_ROUTES: readonly ServedRoute[] = [...MACHINE_ROUTES, ...TOKEN_ROUTES].map((route) => {
  const access = MACHINE_ACCESS[`${route.method} ${route.path}`];
  return access ? { ...route, machineAccess: access } : route;
});

/** The URL prefixes the plugin owns; unknown paths under them answer privacyIDEA's 404. */
export const MACHINE_API_PREFIXES = ['/machine', '/machineresolver', '/token', '/application', '/validate'] as const;

/** An application/x-www-form-urlencoded body, kept raw for privacyIDEA's parameter rules. */
class FormBody {
  constructor(readonly text: string) {}
}

function splitPrefix(path: string): { prefix: string; local: string } {
  const prefix = MACHINE_API_PREFIXES.find((p) => path === p || path.startsWith(`${p}/`));
  if (!prefix) throw new Error(`route ${path} is outside the machine API prefixes`);
  return { prefix, local: path.slice(prefix.length) || '/' };
}

function rawQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

function send(reply: FastifyReply, envelope: EnvelopeResponse): FastifyReply {
  return reply.code(envelope.status).headers(envelope.headers).send(serializeEnvelope(envelope.body));
}

/** One at a time for administrative writes (two enrolments must not both take one serial). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(body: () => Promise<T>): Promise<T> {
    const run = this.tail.then(body, body);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

function gateFor(deps: MachineApiDeps): AttestationGate {
  // Hosts-file machines have no TPM behind them here: only keylime machines are gated.
  return async (machineId, machine) => {
    if (machine.resolverType !== 'keylime') return { ok: true };
    const verdict = await deps.attestation(machineId);
    return verdict.ok ? { ok: true } : { ok: false, eventId: verdict.eventId, status: verdict.state };
  };
}

const callers = new WeakMap<FastifyRequest, Caller>();

/**
 * Mounts the machine API on `app`. The store (<dataDir>/machines.json and machines.key)
 * opens while the app starts (app.ready() / listen()), and a failure to open it fails
 * the start. Call before listen().
 */
export function registerMachineApi(app: FastifyInstance, deps: MachineApiDeps): void {
  const log: Logger = (deps.log ?? silentLogger).child({ api: 'machine' });
  const now = deps.now ?? Date.now;
  const pinned = new PinnedCertificates();
  const writes = new Mutex();

  void app.register(async (api) => {
    const store = await MachineStore.open(deps.dataDir, { randomBytes: deps.randomBytes });
    if (store.looseKeyMode !== undefined) {
      log.warn('the token key file is readable by others; run chmod 600 on it', { file: store.paths.key, mode: store.looseKeyMode.toString(8) });
    }
    api.addHook('onClose', async () => store.close());
    const ctx: MachineContext = {
      repo: store.repo,
      machines: verifierMachineDirectory(deps.agents),
      secretKey: store.secretKey,
      now,
      attestationGate: gateFor(deps),
      ...(deps.randomBytes ? { randomBytes: deps.randomBytes } : {}),
    };
    const attestation = async (agentId: string): Promise<AgentAttestation> => deps.attestation(agentId);

    // privacyIDEA reads form and JSON bodies; other content types carry no parameters.
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(parameterError('The request body is not valid JSON.'), undefined);
      }
    });
    api.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, new FormBody(String(body))));
    api.addContentTypeParser('*', { parseAs: 'string' }, (_req, _body, done) => done(null, undefined));

    api.setErrorHandler((error, request, reply) => {
      let failure: unknown = error;
      if (!isKeylimeError(error)) {
        const fe = error as { statusCode?: number; message?: string; code?: string };
        if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
          failure = parameterError(fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'The request body is too large.' : (fe.message ?? 'Bad request'));
        } else {
          log.error('machine API failure', { url: request.url, error: fe.message ?? String(error) });
        }
      } else if (error.status >= 500) {
        log.error('machine API failure', { url: request.url, error: error.message });
      } else if (error.status === 401 || error.status === 403) {
        log.info('machine API refusal', { method: request.method, url: request.url.split('?')[0], reason: error.message });
      }
      return send(reply, errorEnvelope(failure, { now }));
    });

    // Identify the caller before any body is parsed; unknown callers learn nothing more.
    api.addHook('onRequest', async (request) => {
      const caller = identifyCaller(peerFacts(request), deps.agents, pinned, deps.adminNames);
      if (caller.role === 'refused') throw authError(caller.code, caller.reason);
      callers.set(request, caller);
    });

    const byPrefix = new Map<string, ServedRoute[]>();
    for (const route of SERVED_ROUTES) {
      const { prefix } = splitPrefix(route.path);
      byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), route]);
    }
    for (const [prefix, routes] of byPrefix) {
      void api.register(
        async (scope) => {
          scope.setNotFoundHandler((request, reply) => {
            const path = request.url.split('?')[0];
            return send(reply, errorEnvelope(resourceNotFound(`The requested URL ${request.method} ${path} was not found on this server.`), { now }));
          });
          for (const route of routes) {
            scope.route({
              method: route.method,
              url: splitPrefix(route.path).local,
              config: { auth: 'public' },
              handler: async (request, reply) => {
                const caller = callers.get(request) ?? identifyCaller(peerFacts(request), deps.agents, pinned, deps.adminNames);
                const body = request.body;
                const params = collectParams({
                  query: rawQuery(request.url),
                  form: body instanceof FormBody ? body.text : undefined,
                  json: body instanceof FormBody ? undefined : body,
                  path: request.params as Record<string, string>,
                  userAgent: request.headers['user-agent'],
                });
                await authorize({ caller, method: route.method, path: route.path, machineAccess: route.machineAccess, params, ctx, attestation });
                const serve = async () => {
                  const generation = store.generation;
                  let answer: Awaited<ReturnType<MachineRoute['handle']>> | undefined;
                  let failure: unknown;
                  try {
                    answer = await route.handle(ctx, params);
                  } catch (e) {
                    failure = clientFacingError(e);
                  }
                  // Durable before the answer, failed requests included (offline items advance counters).
                  await store.persistChangesSince(generation);
                  if (failure !== undefined) throw failure;
                  return answer!;
                };
                const answer = route.mutates && !route.machineAccess ? await writes.run(serve) : await serve();
                if (caller.role === 'machine') log.info('machine fetched its items', { agent_id: caller.agentId, path: route.path });
                return send(reply, successEnvelope(answer.value, { now, detail: answer.detail, extra: answer.extra, nonce: params.get('nonce') }));
              },
            });
          }
        },
        { prefix },
      );
    }
  });
}
