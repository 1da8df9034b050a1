/**
 * What the agent keeps in its data directory and brings up at start (protocol spec §3.1):
 * the NK (payload key), the mTLS server key and self-signed certificate, and the TPM
 * identity: EK (re-derived every start), EK certificate, and the AK, whose blobs live in
 * agent_data.json so the same AK is used across restarts and TPM resets.
 */
import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { invalidInput, isKeylimeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { SECRET_MODE, PUBLIC_MODE, exists, writeFileAtomic } from '../../crypto/files.js';
import { generateRsaKey, parsePrivateKey, privateKeyPem, publicKeyPem } from '../../crypto/keys.js';
import { selfSignedServerCert } from '../../crypto/self-signed.js';
import { spkiDer } from '../../crypto/x509.js';
import { parseTpm2bPublic } from '../../quote/index.js';
import type { AkKey, EkAlg, HashAlg, SignAlg, Tpm } from '../../tpm/index.js';

export const AGENT_FILES = {
  nk: 'payload-private.pem',
  serverKey: 'server-private.pem',
  serverCert: 'server-cert.crt',
  agentData: 'agent_data.json',
  tpmDir: 'tpm',
  secureDir: 'secure',
} as const;

/** Keylime agent ids: `[\w.-]+` (the verifier's check), within the registrar's 80-character column. */
export function checkAgentId(id: string): string {
  if (!/^[A-Za-z0-9_.-]{1,80}$/.test(id)) {
    throw invalidInput(`agent id ${JSON.stringify(id)} is not valid: use letters, digits, '_', '.', '-' (at most 80), or hash_ek`);
  }
  return id;
}

/** The NK: RSA-2048, generated once and kept as PKCS#8 PEM (0600). */
export async function loadOrCreateNk(dataDir: string, log: Logger): Promise<{ key: KeyObject; publicPem: string }> {
  const path = join(dataDir, AGENT_FILES.nk);
  let key: KeyObject;
  if (exists(path)) {
    key = parsePrivateKey(readFileSync(path, 'utf8'), `payload key ${path}`);
    if (key.asymmetricKeyType !== 'rsa') throw invalidInput(`payload key ${path} is not an RSA key (Keylime requires RSA)`);
  } else {
    key = await generateRsaKey(2048);
    writeFileAtomic(path, privateKeyPem(key), SECRET_MODE);
    log.info('created the payload key (NK)', { file: path });
  }
  return { key, publicPem: publicKeyPem(key) };
}

function certFits(cert: X509Certificate, key: KeyObject, agentId: string, contactIp: string, now: Date): boolean {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  const contact = contactIp.replace(/^\[(.*)\]$/, '$1');
  const coversContact = isIP(contact) ? cert.checkIP(contact) !== undefined : cert.checkHost(contact) !== undefined;
  const validLongEnough = new Date(cert.validTo).getTime() > now.getTime() + 24 * 3600 * 1000;
  return cn === agentId && coversContact && validLongEnough && spkiDer(cert.publicKey).equals(spkiDer(createPublicKey(key)));
}

/**
 * The mTLS server key and certificate. Both are reused; the certificate is made again
 * (same key) when its CN is not the agent id, it does not name the contact address, or it
 * is about to expire. Replacing it means registering again, which start-up always does.
 */
export async function loadOrCreateServerCert(
  dataDir: string,
  agentId: string,
  contactIp: string,
  log: Logger,
  now = new Date(),
): Promise<{ certPem: string; keyPem: string }> {
  const keyPath = join(dataDir, AGENT_FILES.serverKey);
  const certPath = join(dataDir, AGENT_FILES.serverCert);
  const keyPem = exists(keyPath) ? readFileSync(keyPath, 'utf8') : undefined;
  if (keyPem !== undefined && exists(certPath)) {
    const certPem = readFileSync(certPath, 'utf8');
    try {
      if (certFits(new X509Certificate(certPem), parsePrivateKey(keyPem, keyPath), agentId, contactIp, now)) return { certPem, keyPem };
    } catch (e) {
      log.warn('the stored mTLS certificate is unreadable; making a new one', { file: certPath, error: (e as Error).message });
    }
  }
  const made = await selfSignedServerCert({ commonName: agentId, hosts: [contactIp], keyPem, now });
  if (made.generatedKey) writeFileAtomic(keyPath, made.keyPem, SECRET_MODE);
  writeFileAtomic(certPath, made.certPem, PUBLIC_MODE);
  log.info('created the mTLS server certificate', { file: certPath, cn: agentId, contact_ip: contactIp });
  return { certPem: made.certPem, keyPem: made.keyPem };
}

/** agent_data.json: the AK blobs and the algorithms and EK it was made for. */
export interface AgentData {
  version: 1;
  agent_id: string;
  ek_alg: EkAlg;
  ek_name: string;
  hash_alg: HashAlg;
  sign_alg: SignAlg;
  ak_public: string;
  ak_private: string;
  ak_name: string;
}

function readAgentData(path: string, log: Logger): AgentData | undefined {
  if (!exists(path)) return undefined;
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<AgentData>;
    const strings = ['agent_id', 'ek_alg', 'ek_name', 'hash_alg', 'sign_alg', 'ak_public', 'ak_private', 'ak_name'] as const;
    if (data.version === 1 && strings.every((k) => typeof data[k] === 'string')) return data as AgentData;
    log.warn('agent data file has an unknown layout; a new AK will be made', { file: path });
  } catch (e) {
    log.warn('agent data file is unreadable; a new AK will be made', { file: path, error: (e as Error).message });
  }
  return undefined;
}

export interface TpmIdentity {
  agentId: string;
  ekAlg: EkAlg;
  ekPublic: Buffer;
  ekCert: Buffer | null;
  ak: AkKey;
  hashAlg: HashAlg;
  signAlg: SignAlg;
  /** True when the AK came from agent_data.json, false when it was just created. */
  akReused: boolean;
}

/** Keylime's uuid = "hash_ek": hex SHA-256 of the EK public key as SPKI PEM. */
export function hashEkId(ekPublic: Buffer): string {
  const pem = parseTpm2bPublic(ekPublic).key.export({ type: 'spki', format: 'pem' }) as string;
  return createHash('sha256').update(pem, 'utf8').digest('hex');
}

export async function bringUpTpm(
  tpm: Tpm,
  opts: { dataDir: string; uuid: string; ekAlg: EkAlg; hashAlg: HashAlg; signAlg: SignAlg; log: Logger },
): Promise<TpmIdentity> {
  const { log } = opts;
  const ek = await tpm.createEk(opts.ekAlg);
  const ekCert = await tpm.readEkCertificate(opts.ekAlg);
  if (!ekCert) log.info('the TPM has no EK certificate; registering with ekcert null', { alg: opts.ekAlg });
  const agentId = checkAgentId(opts.uuid === 'hash_ek' ? hashEkId(ek.ekPublic) : opts.uuid);
  const ekName = ek.ekName.toString('hex');
  const dataPath = join(opts.dataDir, AGENT_FILES.agentData);
  const stored = readAgentData(dataPath, log);

  let ak: AkKey | undefined;
  if (stored && stored.ek_alg === opts.ekAlg && stored.hash_alg === opts.hashAlg && stored.sign_alg === opts.signAlg) {
    if (stored.ek_name !== ekName) {
      log.warn('the EK differs from the one the stored AK was made under (TPM cleared?); making a new AK');
    } else {
      try {
        ak = await tpm.loadAk(Buffer.from(stored.ak_public, 'base64'), Buffer.from(stored.ak_private, 'base64'));
      } catch (e) {
        if (!isKeylimeError(e)) throw e;
        log.warn('could not load the stored AK; making a new one', { error: e.message });
      }
    }
  } else if (stored) {
    log.info('the stored AK was made for other algorithms; making a new one', {
      stored: `${stored.ek_alg}/${stored.sign_alg}/${stored.hash_alg}`,
      wanted: `${opts.ekAlg}/${opts.signAlg}/${opts.hashAlg}`,
    });
  }
  const akReused = ak !== undefined;
  if (!ak) ak = await tpm.createAk({ hashAlg: opts.hashAlg, signAlg: opts.signAlg, encAlg: opts.ekAlg });
  const handle = ak.persistentHandle === null ? 'none (transient)' : `0x${ak.persistentHandle.toString(16)}`;
  log.info(akReused ? 'reusing the stored AK' : 'created a new AK', { name: ak.akName.toString('hex'), persistent_handle: handle });
  const data: AgentData = {
    version: 1,
    agent_id: agentId,
    ek_alg: opts.ekAlg,
    ek_name: ekName,
    hash_alg: opts.hashAlg,
    sign_alg: opts.signAlg,
    ak_public: ak.akPublic.toString('base64'),
    ak_private: ak.akPrivate.toString('base64'),
    ak_name: ak.akName.toString('hex'),
  };
  if (!akReused || stored?.agent_id !== agentId) writeFileAtomic(dataPath, JSON.stringify(data, null, 2) + '\n', SECRET_MODE);
  return { agentId, ekAlg: opts.ekAlg, ekPublic: ek.ekPublic, ekCert, ak, hashAlg: opts.hashAlg, signAlg: opts.signAlg, akReused };
}
