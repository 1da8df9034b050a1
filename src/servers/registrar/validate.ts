import { isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { invalidInput } from '../../errors.js';

/** Agent ids as Keylime accepts them. */
const AGENT_ID = /^[\w.-]{1,80}$/;

export function checkAgentId(id: string): string {
  if (!AGENT_ID.test(id)) throw invalidInput(`Invalid agent id '${id.slice(0, 100)}': use letters, digits, '_', '.' and '-' (at most 80)`);
  return id;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 with padding; names the field on failure. */
export function decodeBase64Field(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) throw invalidInput(`Field '${field}' must be a non-empty base64 string`);
  const compact = value.replace(/\s/g, '');
  if (!B64.test(compact)) throw invalidInput(`Field '${field}' is not valid base64`);
  return Buffer.from(compact, 'base64');
}

export function optionalIp(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw invalidInput("Field 'ip' must be a string");
  if (isIP(value) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(value)) throw invalidInput(`Field 'ip' is not an IP address or host name: ${value.slice(0, 80)}`);
  return value;
}

export function optionalPort(value: unknown): number | null {
  if (value === undefined || value === null || value === '') return null;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw invalidInput("Field 'port' must be an integer from 1 to 65535");
  return n;
}

/** mtls_cert: a PEM certificate, "disabled", or absent (null). */
export function optionalMtlsCert(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (value === 'disabled') return 'disabled';
  if (typeof value !== 'string') throw invalidInput("Field 'mtls_cert' must be a PEM certificate or \"disabled\"");
  try {
    new X509Certificate(value);
  } catch {
    throw invalidInput("Field 'mtls_cert' is not a PEM certificate");
  }
  return value;
}
