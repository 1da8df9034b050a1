import type { FastifyInstance } from 'fastify';
import { success } from '../http/envelope.js';
import { sendStatus } from '../http/server.js';
import { compareVersions } from '../http/versions.js';
import {
  addAgent,
  createMbPolicy,
  createRuntimePolicy,
  deleteAgent,
  deleteMbPolicy,
  deleteRuntimePolicy,
  getAgent,
  getMbPolicy,
  getRuntimePolicy,
  listAgents,
  listMbPolicies,
  listRuntimePolicies,
  metricsSnapshot,
  reactivateAgent,
  stopAgent,
  updateMbPolicy,
  updateRuntimePolicy,
  verifyIdentity,
  type VerifierDeps,
} from './service.js';

type IdParams = { Params: { id: string } };
type NameParams = { Params: { name: string } };
type ListQuery = { Querystring: { bulk?: string; verifier?: string } };

/** The verifier's /v2.x API (§7.1); which routes exist depends on the version prefix. */
export function verifierRoutes(scope: FastifyInstance, version: string, deps: VerifierDeps): void {
  scope.post<IdParams>('/agents/:id', async (req) => {
    await addAgent(deps, req.params.id, req.body);
    return success({});
  });
  const list = async (req: { query: ListQuery['Querystring'] }) => success(listAgents(deps, req.query));
  scope.get<ListQuery>('/agents/', list);
  scope.get<ListQuery>('/agents', list);
  scope.get<IdParams>('/agents/:id', async (req) => success(getAgent(deps, req.params.id)));
  scope.delete<IdParams>('/agents/:id', async (req, reply) => sendStatus(reply, await deleteAgent(deps, req.params.id)));
  scope.put<IdParams>('/agents/:id/reactivate', async (req) => {
    await reactivateAgent(deps, req.params.id);
    return success({});
  });
  scope.put<IdParams>('/agents/:id/stop', async (req) => {
    await stopAgent(deps, req.params.id);
    return success({});
  });

  scope.post<NameParams>('/allowlists/:name', async (req, reply) => {
    await createRuntimePolicy(deps, req.params.name, req.body);
    return sendStatus(reply, 201);
  });
  scope.put<NameParams>('/allowlists/:name', async (req, reply) => {
    await updateRuntimePolicy(deps, req.params.name, req.body);
    return sendStatus(reply, 201);
  });
  scope.get('/allowlists/', async () => success(listRuntimePolicies(deps)));
  scope.get('/allowlists', async () => success(listRuntimePolicies(deps)));
  scope.get<NameParams>('/allowlists/:name', async (req) => success(getRuntimePolicy(deps, req.params.name)));
  scope.delete<NameParams>('/allowlists/:name', async (req, reply) => {
    await deleteRuntimePolicy(deps, req.params.name);
    return sendStatus(reply, 204);
  });

  if (compareVersions(version, '2.2') >= 0) {
    scope.get<{ Querystring: Record<string, string | undefined> }>('/verify/identity', { config: { auth: 'public' } }, async (req) =>
      success(verifyIdentity(deps, req.query)),
    );
  }

  if (compareVersions(version, '2.3') >= 0) {
    scope.post<NameParams>('/mbpolicies/:name', async (req, reply) => {
      await createMbPolicy(deps, req.params.name, req.body);
      return sendStatus(reply, 201);
    });
    scope.put<NameParams>('/mbpolicies/:name', async (req, reply) => {
      await updateMbPolicy(deps, req.params.name, req.body);
      return sendStatus(reply, 201);
    });
    scope.get('/mbpolicies/', async () => success(listMbPolicies(deps)));
    scope.get('/mbpolicies', async () => success(listMbPolicies(deps)));
    scope.get<NameParams>('/mbpolicies/:name', async (req) => success(getMbPolicy(deps, req.params.name)));
    scope.delete<NameParams>('/mbpolicies/:name', async (req, reply) => {
      await deleteMbPolicy(deps, req.params.name);
      return sendStatus(reply, 204);
    });
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Unversioned routes: /versions (public, as /version), /healthz (public), /metrics (admin certificate). */
export function verifierRootRoutes(app: FastifyInstance, deps: VerifierDeps, versionInfo: () => Record<string, unknown>): void {
  app.get('/versions', { config: { auth: 'public' } }, async () => success(versionInfo()));
  app.get('/healthz', { config: { auth: 'public' } }, async () => success({ status: 'ok', agents: deps.store.all().length }));
  app.get('/metrics', async (_req, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(deps.metrics.render(metricsSnapshot(deps))));
}
