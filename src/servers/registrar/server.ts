import type { FastifyInstance } from 'fastify';
import { CertStore } from '../../crypto/ek-cert.js';
import { silentLogger, type Logger } from '../../log.js';
import { createServer, listen, MiB } from '../http/server.js';
import { SERVER_API_VERSIONS, SERVER_CURRENT_VERSION } from '../http/versions.js';
import { adminRoutes, refuseAdminOnPlainPort, registrationRoutes } from './routes.js';
import type { RegistrarDeps } from './service.js';
import { RegistrarStore } from './store.js';

export interface RegistrarOptions {
  host: string;
  port: number;
  tlsPort: number;
  dataDir: string;
  /** TLS material of the mTLS listener: server cert/key and the CA that signs tenant certificates. */
  tls: { cert: string; key: string; ca: string[] };
  tpmCertStore?: string;
  requireEkCert?: boolean;
  logger?: Logger;
}

export interface RunningRegistrar {
  port: number;
  tlsPort: number;
  deps: RegistrarDeps;
  close(): Promise<void>;
}

function versionInfo() {
  return { current_version: SERVER_CURRENT_VERSION, supported_versions: [...SERVER_API_VERSIONS] };
}

export function buildRegistrarApps(deps: RegistrarDeps, options: Pick<RegistrarOptions, 'tls' | 'tlsPort'>): { plain: FastifyInstance; secure: FastifyInstance } {
  const common = { name: 'registrar', bodyLimit: MiB, versions: SERVER_API_VERSIONS, versionInfo, logger: deps.log };
  const plain = createServer({
    ...common,
    routes: (scope) => {
      registrationRoutes(scope, deps);
      refuseAdminOnPlainPort(scope, options.tlsPort);
    },
  });
  const secure = createServer({
    ...common,
    tls: { ...options.tls, clientAuth: 'optional' },
    routes: (scope) => {
      registrationRoutes(scope, deps);
      adminRoutes(scope, deps);
    },
  });
  return { plain, secure };
}

/** Starts the registrar's two listeners: plain HTTP for agents, mTLS for the tenant. */
export async function startRegistrar(options: RegistrarOptions): Promise<RunningRegistrar> {
  const log = options.logger ?? silentLogger;
  const deps: RegistrarDeps = {
    store: await RegistrarStore.open(options.dataDir),
    policy: { certStore: await CertStore.load(options.tpmCertStore), requireEkCert: options.requireEkCert ?? false },
    log,
  };
  const { plain, secure } = buildRegistrarApps(deps, options);
  try {
    const port = await listen(plain, options.host, options.port);
    const tlsPort = await listen(secure, options.host, options.tlsPort);
    log.info('registrar listening', { host: options.host, port, tls_port: tlsPort, ek_cert_store: options.tpmCertStore ?? 'none', require_ek_cert: deps.policy.requireEkCert });
    return {
      port,
      tlsPort,
      deps,
      async close() {
        await Promise.all([plain.close(), secure.close()]);
      },
    };
  } catch (e) {
    await Promise.all([plain.close(), secure.close()]);
    throw e;
  }
}
