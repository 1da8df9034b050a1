import { KeylimeError } from '../../errors.js';
import { pythonFullmatch } from './pythonRegex.js';

/**
 * The `example` policy's reference state, checked the way Keylime's refstate_to_test
 * checks it: a malformed refstate is not a failed boot but a broken policy, reported as
 * `policy evaluation failed: <why>` (keylime-ima-mb.md §4.4).
 */
export class RefstateError extends KeylimeError {
  constructor(message: string) {
    super('invalid_input', message);
    this.name = 'RefstateError';
  }
}

/** alg → lowercase hex without 0x. */
export type DigestSpec = Record<string, string>;

export interface SignatureSpec {
  owner: string;
  /** SignatureData without the 0x prefix, compared as written. */
  data: string;
}

export interface KernelSpec {
  shim: string;
  grub: string;
  /** Authenticode hash of the kernel (secure boot on). */
  kernel?: string;
  /** Plain hash of vmlinuz (secure boot off). */
  vmlinuz?: string;
  initrd: string;
  cmdline: RegExp;
  cmdlineSource: string;
}

export interface ScrtmAndBiosSpec {
  scrtm: DigestSpec;
  platformFirmware: DigestSpec[];
}

export interface ExampleRefstate {
  hasSecureboot: boolean;
  scrtmAndBios: ScrtmAndBiosSpec[];
  /** null: secure boot off and the list empty, so the variable is accepted once unchecked. */
  pk: SignatureSpec[] | null;
  kek: SignatureSpec[] | null;
  db: SignatureSpec[] | null;
  dbx: SignatureSpec[] | null;
  vendorDb: SignatureSpec[] | null;
  mokdig: DigestSpec[];
  mokxdig: DigestSpec[];
  kernels: KernelSpec[];
}

const HEX = /^0x[0-9a-f]+$/;

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Python truthiness, which Keylime applies to has_secureboot and to empty key lists. */
export function pythonTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return Boolean(v);
}

function hex(v: unknown): string {
  if (typeof v === 'string' && HEX.test(v)) return v.slice(2);
  throw new RefstateError(`${show(v)} is not 0x followed by some lowercase hex digits`);
}

function digest(v: unknown): DigestSpec {
  if (!isObject(v)) throw new RefstateError(`${show(v)} is not a digest object`);
  const out: DigestSpec = {};
  for (const [alg, value] of Object.entries(v)) out[alg] = hex(value);
  return out;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new RefstateError(`${what} is ${show(v)} instead of a list`);
  return v;
}

function requireFields(v: unknown, fields: string[]): Record<string, unknown> {
  if (!isObject(v)) throw new RefstateError(`${show(v)} is not an object`);
  const missing = fields.filter((f) => !(f in v));
  if (missing.length) throw new RefstateError(`${show(v)} lacks fields ${missing.join(', ')}`);
  return v;
}

function signature(v: unknown): SignatureSpec {
  const o = requireFields(v, ['SignatureOwner', 'SignatureData']);
  if (typeof o.SignatureOwner !== 'string' || typeof o.SignatureData !== 'string') {
    throw new RefstateError(`${show(v)}: SignatureOwner and SignatureData must be strings`);
  }
  if (!o.SignatureData.startsWith('0x')) throw new RefstateError(`${show(o.SignatureData)} does not start with 0x`);
  return { owner: o.SignatureOwner, data: o.SignatureData.slice(2) };
}

function signatures(ref: Record<string, unknown>, key: string, hasSecureboot: boolean): SignatureSpec[] | null {
  const v = ref[key];
  if (!hasSecureboot && !pythonTruthy(v)) return null;
  return list(v, `refstate['${key}']`).map(signature);
}

function compileCmdline(pattern: string): RegExp {
  try {
    return pythonFullmatch(`kernel_cmdline: ${pattern}`);
  } catch (e) {
    throw new RefstateError(`kernel_cmdline ${show(pattern)} is not a valid regular expression: ${(e as Error).message}`);
  }
}

function kernel(v: unknown, hasSecureboot: boolean): KernelSpec {
  const bootFields = hasSecureboot ? 'kernel_authcode_sha256' : 'vmlinuz_plain_sha256';
  const o = requireFields(v, ['shim_authcode_sha256', 'grub_authcode_sha256', bootFields, 'initrd_plain_sha256', 'kernel_cmdline']);
  if (typeof o.kernel_cmdline !== 'string') throw new RefstateError(`kernel_cmdline ${show(o.kernel_cmdline)} is not a string`);
  const spec: KernelSpec = {
    shim: hex(o.shim_authcode_sha256),
    grub: hex(o.grub_authcode_sha256),
    initrd: hex(o.initrd_plain_sha256),
    cmdline: compileCmdline(o.kernel_cmdline),
    cmdlineSource: o.kernel_cmdline,
  };
  if (hasSecureboot) spec.kernel = hex(o.kernel_authcode_sha256);
  else spec.vmlinuz = hex(o.vmlinuz_plain_sha256);
  return spec;
}

export function parseExampleRefstate(refstate: unknown): ExampleRefstate {
  if (!isObject(refstate)) throw new RefstateError(`expected the refstate to be an object, got ${show(refstate)}`);
  const hasSecureboot = 'has_secureboot' in refstate ? pythonTruthy(refstate.has_secureboot) : true;
  const kernels = list(refstate.kernels, "refstate['kernels']").map((k) => kernel(k, hasSecureboot));
  if (refstate.scrtm_and_bios === undefined || refstate.scrtm_and_bios === null) {
    throw new RefstateError("refstate['scrtm_and_bios'] is missing");
  }
  const scrtmAndBios = list(refstate.scrtm_and_bios, "refstate['scrtm_and_bios']").map((a) => {
    const o = requireFields(a, ['scrtm', 'platform_firmware']);
    return { scrtm: digest(o.scrtm), platformFirmware: list(o.platform_firmware, 'platform_firmware').map(digest) };
  });
  for (const key of ['pk', 'kek', 'db', 'dbx', 'mokdig', 'mokxdig']) {
    if (!(key in refstate)) throw new RefstateError(`refstate lacks ${key}`);
  }
  return {
    hasSecureboot,
    scrtmAndBios,
    pk: signatures(refstate, 'pk', hasSecureboot),
    kek: signatures(refstate, 'kek', hasSecureboot),
    db: signatures(refstate, 'db', hasSecureboot),
    dbx: signatures(refstate, 'dbx', hasSecureboot),
    vendorDb: signatures({ vendor_db: [], ...refstate }, 'vendor_db', hasSecureboot),
    mokdig: list(refstate.mokdig, "refstate['mokdig']").map(digest),
    mokxdig: list(refstate.mokxdig, "refstate['mokxdig']").map(digest),
    kernels,
  };
}
