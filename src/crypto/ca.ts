import { X509Certificate, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { KeylimeError, invalidInput, notFound } from '../errors.js';
import {
  CA_DEFAULTS,
  CA_FILES,
  addDays,
  caExtensions,
  keylimeName,
  leafExtensions,
  leafFiles,
  leafSans,
  type LeafKind,
} from './ca-profile.js';
import { buildCrl } from './crl.js';
import { PUBLIC_MODE, SECRET_MODE, chmodDir, ensurePrivateDir, exists, fsyncDir, withDirLock, writeFileAtomic } from './files.js';
import { generateRsaKey, parsePrivateKey, privateKeyPem, publicKeyPem } from './keys.js';
import {
  DEFAULT_CA_PASSWORD,
  keystorePem,
  lastSerial,
  newKeystore,
  openKeystore,
  sealKeystore,
  setKeystorePem,
  type CaKeystore,
} from './keystore.js';
import { sanEntries } from './san.js';
import { buildCertificate, keyIdentifier, spkiDer, subjectNameDer, toPem } from './x509.js';

export { CA_DEFAULTS, CA_FILES, leafFiles, type LeafKind } from './ca-profile.js';

/**
 * The verifier's mTLS certificate authority, laid out exactly as Keylime's
 * `tls_dir = generate` makes `<work_dir>/cv_ca` (spec §10.1), so a real Keylime
 * verifier, registrar or tenant can be pointed at a directory we made and vice versa.
 */

interface PendingFile {
  name: string;
  data: string | Buffer;
  mode: number;
}

/** Files Keylime's `ca_util init` deletes before creating a CA; everything else in the directory is kept. */
const replacedByInit = (name: string): boolean => /\.(pem|crt|zip|der)$/.test(name) || name === CA_FILES.keystore;

export function caExists(dir: string): boolean {
  return exists(join(dir, CA_FILES.caCert)) || exists(join(dir, CA_FILES.keystore));
}

export interface InitCaOptions {
  /** Extra SANs for the server certificate (host names or IP literals). */
  hosts?: string[];
  /** Replace an existing CA. Without it an existing CA is an error and nothing changes. */
  force?: boolean;
  now?: Date;
  /** Keystore password, Keylime's `[ca] password` (default literally "default"). */
  password?: string;
}

export interface InitCaResult {
  dir: string;
  /** Names of the files written, in cv_ca. */
  files: string[];
  replaced: boolean;
  caCertPem: string;
  serverCertPem: string;
  clientCertPem: string;
}

interface IssuedLeaf {
  certPem: string;
  keyPem: string;
  publicPem: string;
}

function issueLeaf(
  kind: LeafKind,
  name: string,
  hosts: string[],
  serial: number,
  leafKey: KeyObject,
  ca: { key: KeyObject; subject: Buffer },
  now: Date,
): IssuedLeaf {
  const der = buildCertificate({
    serial,
    issuer: ca.subject,
    subject: keylimeName(name),
    notBefore: now,
    notAfter: addDays(now, CA_DEFAULTS.leafLifetimeDays),
    publicKey: leafKey,
    extensions: leafExtensions(kind, leafSans(kind, name, hosts), leafKey, ca.key),
    signingKey: ca.key,
  });
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: privateKeyPem(leafKey), publicPem: publicKeyPem(leafKey) };
}

function leafPendingFiles(name: string, leaf: IssuedLeaf): PendingFile[] {
  const f = leafFiles(name);
  return [
    { name: f.privateKey, data: leaf.keyPem, mode: SECRET_MODE },
    { name: f.publicKey, data: leaf.publicPem, mode: PUBLIC_MODE },
    { name: f.cert, data: leaf.certPem, mode: PUBLIC_MODE },
  ];
}

const STALE_STAGING_MS = 60_000;

/**
 * Tidy what a killed `init` left beside the CA directory. A kill between the two renames
 * of a forced replace leaves no CA at the target and the complete old one in `.<dir>.old-*`:
 * that one is put back. Swapped-out copies next to a present CA, and staging directories
 * nobody has touched for a minute, are removed.
 */
export function recoverInterruptedInit(dir: string): void {
  const target = resolve(dir);
  const parent = dirname(target);
  const base = basename(target);
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(parent, entry);
    try {
      if (entry.startsWith(`.${base}.old-`)) {
        if (!exists(target) && caExists(path)) renameSync(path, target);
        else rmSync(path, { recursive: true, force: true });
      } else if (entry.startsWith(`.${base}.staging-`) && Date.now() - statSync(path).mtimeMs > STALE_STAGING_MS) {
        rmSync(path, { recursive: true, force: true });
      }
    } catch {
      // Another process got there first; nothing to tidy.
    }
  }
}

export async function initCa(dir: string, opts: InitCaOptions = {}): Promise<InitCaResult> {
  const target = resolve(dir);
  recoverInterruptedInit(target);
  const now = opts.now ?? new Date();
  const password = opts.password ?? DEFAULT_CA_PASSWORD;
  const hosts = opts.hosts ?? [];
  sanEntries(hosts); // a bad --host fails before any key is made

  const present = exists(target);
  if (present && !statSync(target).isDirectory()) throw invalidInput(`${target} exists and is not a directory`);
  const hadCa = present && caExists(target);
  if (hadCa && !opts.force) {
    throw new KeylimeError('conflict', `a CA already exists in ${target}; pass --force to replace it`, {
      details: { dir: target },
    });
  }
  // Without --force, never drop key or certificate files that are not a CA of ours either.
  const clobbered = present ? readdirSync(target).filter(replacedByInit) : [];
  if (clobbered.length && !opts.force) {
    throw new KeylimeError('conflict', `${target} holds ${clobbered.join(', ')}, which init would replace; pass --force to replace them`, {
      details: { dir: target, files: clobbered },
    });
  }

  const [caKey, serverKey, clientKey] = await Promise.all([
    generateRsaKey(CA_DEFAULTS.bits),
    generateRsaKey(CA_DEFAULTS.bits),
    generateRsaKey(CA_DEFAULTS.bits),
  ]);
  const subject = keylimeName(CA_DEFAULTS.caName);
  const caDer = buildCertificate({
    serial: 1,
    issuer: subject,
    subject,
    notBefore: now,
    notAfter: addDays(now, CA_DEFAULTS.caLifetimeDays),
    publicKey: caKey,
    extensions: caExtensions(caKey),
    signingKey: caKey,
  });
  const ca = { key: caKey, subject };
  // The CA is serial 1; the server and client certificates take the next two.
  const server = issueLeaf('server', 'server', hosts, 2, serverKey, ca, now);
  const client = issueLeaf('client', 'client', [], 3, clientKey, ca, now);

  const keystore = newKeystore();
  setKeystorePem(keystore, 'ca', privateKeyPem(caKey));
  setKeystorePem(keystore, 'server', server.keyPem);
  setKeystorePem(keystore, 'client', client.keyPem);
  keystore.entries.set('lastserial', 3);

  const crlDer = buildCrl({
    issuer: subject,
    caKey,
    caKeyId: keyIdentifier(caKey),
    thisUpdate: now,
    nextUpdate: addDays(now, CA_DEFAULTS.leafLifetimeDays),
    crlNumber: 1,
  });
  const caCertPem = toPem(caDer, 'CERTIFICATE');
  const files: PendingFile[] = [
    { name: CA_FILES.keystore, data: await sealKeystore(keystore, password), mode: SECRET_MODE },
    { name: CA_FILES.caPublicKey, data: publicKeyPem(caKey), mode: PUBLIC_MODE },
    { name: CA_FILES.crlDer, data: crlDer, mode: PUBLIC_MODE },
    { name: CA_FILES.crlPem, data: toPem(crlDer, 'X509 CRL'), mode: PUBLIC_MODE },
    ...leafPendingFiles('server', server),
    ...leafPendingFiles('client', client),
    { name: CA_FILES.caCert, data: caCertPem, mode: PUBLIC_MODE },
  ];

  installDirectory(target, files, present);
  return {
    dir: target,
    files: files.map((f) => f.name),
    replaced: hadCa,
    caCertPem,
    serverCertPem: server.certPem,
    clientCertPem: client.certPem,
  };
}

/**
 * Build the whole CA in a staging directory beside the target, then rename it into place:
 * the target holds either the complete old CA or the complete new one. Replacing swaps
 * directories with two renames; files that Keylime's init would keep are carried over.
 */
function installDirectory(target: string, files: PendingFile[], present: boolean): void {
  const parent = dirname(target);
  const base = basename(target);
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const staging = mkdtempSync(join(parent, `.${base}.staging-`));
  let moved: string | undefined;
  try {
    chmodDir(staging);
    if (present) {
      for (const entry of readdirSync(target)) {
        if (replacedByInit(entry) || entry === '.lock' || entry.includes('.tmp-')) continue;
        cpSync(join(target, entry), join(staging, entry), { recursive: true, preserveTimestamps: true });
      }
    }
    for (const f of files) writeFileAtomic(join(staging, f.name), f.data, f.mode);
    fsyncDir(staging);
    if (present) {
      moved = join(parent, `.${base}.old-${randomBytes(6).toString('hex')}`);
      renameSync(target, moved);
    }
    try {
      renameSync(staging, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new KeylimeError('conflict', `${target} appeared while the CA was being created; nothing was changed`);
      }
      throw e;
    }
    fsyncDir(parent);
  } catch (e) {
    if (moved && !exists(target)) renameSync(moved, target);
    moved = undefined;
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  if (moved) rmSync(moved, { recursive: true, force: true });
}

export interface LoadedCa {
  dir: string;
  certPem: string;
  certDer: Buffer;
  cert: X509Certificate;
  /** The CA private key, from the keystore. */
  key: KeyObject;
  /** DER of the CA subject, the issuer of everything it signs. */
  subject: Buffer;
  keystore: CaKeystore;
}

export async function loadCa(dir: string, opts: { password?: string } = {}): Promise<LoadedCa> {
  const target = resolve(dir);
  recoverInterruptedInit(target);
  const certPath = join(target, CA_FILES.caCert);
  const storePath = join(target, CA_FILES.keystore);
  if (!exists(certPath)) throw notFound(`no CA in ${target} (${CA_FILES.caCert} missing); run: keylime-ts ca init`);
  if (!exists(storePath)) throw notFound(`${storePath} is missing: this directory holds a CA certificate but not its key`);
  const certPem = readFileSync(certPath, 'utf8');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw invalidInput(`${certPath} is not a certificate: ${(e as Error).message}`);
  }
  const keystore = await openKeystore(readFileSync(storePath, 'utf8'), opts.password ?? DEFAULT_CA_PASSWORD);
  const keyPem = keystorePem(keystore, 'ca');
  if (!keyPem) throw invalidInput(`${storePath} holds no CA key`);
  const key = parsePrivateKey(keyPem, 'the CA key in private.yml');
  if (!spkiDer(key).equals(spkiDer(cert.publicKey))) {
    throw invalidInput(`the key in ${storePath} does not belong to ${certPath}`);
  }
  return { dir: target, certPem, certDer: cert.raw, cert, key, subject: subjectNameDer(cert.raw), keystore };
}

export interface IssueOptions {
  kind: LeafKind;
  /** Common name and file prefix: writes <name>-cert.crt, <name>-private.pem, <name>-public.pem. */
  name: string;
  hosts?: string[];
  /** Where the files go; default the CA directory itself (as Keylime's `ca_util -c create`). */
  outDir?: string;
  /** Replace an existing certificate of that name. */
  force?: boolean;
  password?: string;
  now?: Date;
}

export interface IssuedCertificate {
  name: string;
  kind: LeafKind;
  serial: number;
  dir: string;
  files: { cert: string; privateKey: string; publicKey: string };
  certPem: string;
  keyPem: string;
  warnings: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const KEYSTORE_FIELDS = new Set(['ca', 'lastserial', 'revoked_keys']);

export async function issueCertificate(dir: string, opts: IssueOptions): Promise<IssuedCertificate> {
  const caDir = resolve(dir);
  const { kind, name } = opts;
  if (kind !== 'server' && kind !== 'client') throw invalidInput(`kind must be server or client, not ${String(kind)}`);
  if (!NAME.test(name) || KEYSTORE_FIELDS.has(name) || name.endsWith('.')) {
    throw invalidInput(`certificate name ${JSON.stringify(name)} must be 1-63 letters, digits, ".", "_" or "-" and not one of ca, lastserial, revoked_keys`);
  }
  const hosts = opts.hosts ?? [];
  sanEntries(hosts);
  const outDir = resolve(opts.outDir ?? caDir);
  const files = leafFiles(name);
  const now = opts.now ?? new Date();
  const password = opts.password ?? DEFAULT_CA_PASSWORD;
  recoverInterruptedInit(caDir);
  if (!exists(join(caDir, CA_FILES.caCert))) throw notFound(`no CA in ${caDir}; run: keylime-ts ca init`);
  const leafKey = await generateRsaKey(CA_DEFAULTS.bits);

  return withDirLock(caDir, async () => {
    const ca = await loadCa(caDir, { password });
    if (!opts.force) {
      const taken = exists(join(outDir, files.cert)) || ca.keystore.entries.has(name);
      if (taken) throw new KeylimeError('conflict', `a certificate named ${name} already exists; pass --force to replace it`);
    }
    const serial = lastSerial(ca.keystore) + 1;
    const leaf = issueLeaf(kind, name, hosts, serial, leafKey, ca, now);
    if (!new X509Certificate(leaf.certPem).verify(createPublicKey(ca.key))) {
      throw new KeylimeError('internal', 'the new certificate does not verify against the CA');
    }
    // Record the serial before the files exist: a crash may skip a number, never reuse one.
    setKeystorePem(ca.keystore, name, leaf.keyPem);
    ca.keystore.entries.set('lastserial', serial);
    writeFileAtomic(join(caDir, CA_FILES.keystore), await sealKeystore(ca.keystore, password), SECRET_MODE);

    const warnings: string[] = [];
    if (outDir !== caDir) {
      ensurePrivateDir(outDir);
      const caCopy = join(outDir, CA_FILES.caCert);
      if (!exists(caCopy)) writeFileAtomic(caCopy, ca.certPem, PUBLIC_MODE);
      else if (readFileSync(caCopy, 'utf8') !== ca.certPem) warnings.push(`${caCopy} holds a different CA certificate; left as it was`);
    }
    for (const f of leafPendingFiles(name, leaf)) writeFileAtomic(join(outDir, f.name), f.data, f.mode);
    return {
      name,
      kind,
      serial,
      dir: outDir,
      files: { cert: join(outDir, files.cert), privateKey: join(outDir, files.privateKey), publicKey: join(outDir, files.publicKey) },
      certPem: leaf.certPem,
      keyPem: leaf.keyPem,
      warnings,
    };
  });
}

export interface TlsMaterial {
  /** PEM of cacert.crt: the trust anchor for peers. */
  ca: string;
  cert: string;
  key: string;
}

/**
 * PEM strings for node:tls / undici from a cv_ca-style directory: `server` for listeners,
 * `client` for outgoing mTLS, or any name issued with `ca issue`.
 */
export function readTlsMaterial(dir: string, name = 'server'): TlsMaterial {
  if (!NAME.test(name)) throw invalidInput(`not a certificate name: ${JSON.stringify(name)}`);
  const target = resolve(dir);
  const f = leafFiles(name);
  const read = (file: string): string => {
    const path = join(target, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`${path} is missing; run: keylime-ts ca init`);
      throw e;
    }
  };
  return { ca: read(CA_FILES.caCert), cert: read(f.cert), key: read(f.privateKey) };
}
