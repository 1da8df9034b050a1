/**
 * The agent's REST API (protocol spec §3.2), registered once per served version. Work that
 * Keylime's agents do in background workers (payload, revocation actions) is started here
 * and answered at once, as the Rust agent does; errors in it are logged.
 */
import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { invalidInput } from '../../errors.js';
import type { Logger } from '../../log.js';
import { success } from '../http/envelope.js';
import { compareVersions } from '../http/versions.js';
import type { BootstrapKeys, AcceptedKey } from './keys.js';
import { parseUKey, parseVKey } from './keys.js';
import { parseImaEntry, parseMask, parseNonce, parsePartial, type QuoteService } from './quotes.js';
import { parseRevocation, type RevocationNotification } from './revocation.js';

export interface AgentInfo {
  agent_uuid: string;
  tpm_hash_alg: string;
  tpm_enc_alg: string;
  tpm_sign_alg: string;
  ak_handle: number;
}

export interface AgentRouteDeps {
  nk: KeyObject;
  nkPem: string;
  keys: BootstrapKeys;
  quotes: QuoteService;
  info: () => AgentInfo;
  /** Called when a (U, V) pair matched; runs the payload pipeline in the background. */
  onKey: (accepted: AcceptedKey) => void;
  onRevocation: (notification: RevocationNotification) => void;
  log: Logger;
}

type Query = { Querystring: Record<string, unknown> };

export function agentRoutes(scope: FastifyInstance, version: string, deps: AgentRouteDeps): void {
  scope.get('/keys/pubkey', async () => success({ pubkey: deps.nkPem }));

  scope.post('/keys/ukey', async (req) => {
    const u = parseUKey(deps.nk, req.body);
    deps.log.info('received U', { payload: u.payload !== undefined });
    const accepted = deps.keys.addU(u);
    if (accepted) deps.onKey(accepted);
    return success({});
  });

  scope.post('/keys/vkey', async (req) => {
    const v = parseVKey(deps.nk, req.body);
    deps.log.info('received V');
    const accepted = deps.keys.addV(v);
    if (accepted) deps.onKey(accepted);
    return success({});
  });

  scope.get<Query>('/keys/verify', async (req) => {
    const raw = req.query.challenge;
    const challenge = typeof raw === 'string' ? raw : Array.isArray(raw) && typeof raw[0] === 'string' ? raw[0] : '';
    if (challenge === '') throw invalidInput('No challenge provided.');
    if (!/^[A-Za-z0-9]+$/.test(challenge)) throw invalidInput(`Parameters should be strictly alphanumeric: ${challenge}`);
    const hmac = deps.keys.challengeHmac(challenge);
    if (hmac === undefined) throw invalidInput('Bootstrap key not yet available.');
    return success({ hmac });
  });

  scope.get<Query>('/quotes/identity', async (req) => {
    const nonce = parseNonce(req.query.nonce, 'identity');
    return success(await deps.quotes.identity(nonce));
  });

  scope.get<Query>('/quotes/integrity', async (req) => {
    const q = req.query;
    const nonce = parseNonce(q.nonce, 'integrity');
    const pcrs = parseMask(q.mask);
    const partial = parsePartial(q.partial);
    return success(await deps.quotes.integrity({ nonce, pcrs, partial, imaEntry: parseImaEntry(q.ima_ml_entry) }));
  });

  if (compareVersions(version, '2.2') >= 0) {
    scope.get('/agent/info', async () => success(deps.info()));
  }

  scope.post('/notifications/revocation', async (req) => {
    deps.onRevocation(parseRevocation(req.body));
    return success({});
  });
}

/** Message for paths no route matches (under a served version, or outside any). */
export function notFoundStatus(versions: readonly string[]): string {
  return `Not Implemented: Use ${versions.map((v) => `/v${v}`).join(', ')} or /version interfaces`;
}
