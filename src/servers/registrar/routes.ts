import type { FastifyInstance } from 'fastify';
import { invalidInput } from '../../errors.js';
import { success } from '../http/envelope.js';
import { publicView } from './record.js';
import { activateAgent, deleteAgent, getActiveAgent, registerAgent, type RegistrarDeps } from './service.js';

type IdParams = { Params: { id: string } };

/** Registration and activation: agents call these on the plain port (and, as HEAD allows, on TLS). */
export function registrationRoutes(scope: FastifyInstance, deps: RegistrarDeps): void {
  const open = { config: { auth: 'public' as const } };
  scope.post<IdParams>('/agents/:id', open, async (req) => success(await registerAgent(deps, req.params.id, req.body)));
  scope.post('/agents', open, async (req) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (typeof body?.agent_id !== 'string') throw invalidInput("Field 'agent_id' is required");
    return success(await registerAgent(deps, body.agent_id, body));
  });
  const activate = async (req: { params: { id: string }; body: unknown }) => {
    await activateAgent(deps, req.params.id, req.body);
    return success({});
  };
  scope.put<IdParams>('/agents/:id/activate', open, activate);
  scope.post<IdParams>('/agents/:id/activate', open, activate);
  // The Rust agent activates with PUT on the agent resource itself.
  scope.put<IdParams>('/agents/:id', open, activate);
}

/** Tenant-facing reads and deletes: mTLS port only. */
export function adminRoutes(scope: FastifyInstance, deps: RegistrarDeps): void {
  scope.get('/agents/', async () => success({ uuids: deps.store.ids() }));
  scope.get('/agents', async () => success({ uuids: deps.store.ids() }));
  scope.get<IdParams>('/agents/:id', async (req) => success(publicView(getActiveAgent(deps, req.params.id))));
  scope.delete<IdParams>('/agents/:id', async (req) => {
    await deleteAgent(deps, req.params.id);
    return success({});
  });
}

/** On the plain port, reads and deletes are refused: they need the TLS port and a client certificate. */
export function refuseAdminOnPlainPort(scope: FastifyInstance, tlsPort: number): void {
  const refuse = async () => {
    throw invalidInput(`Bad Request: this request needs the TLS port (${tlsPort}) and a client certificate`);
  };
  scope.get('/agents/', refuse);
  scope.get('/agents', refuse);
  scope.get('/agents/:id', refuse);
  scope.delete('/agents/:id', refuse);
}
