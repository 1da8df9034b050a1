import { STATUS_CODES } from 'node:http';

/** Keylime's response envelope (keylime-protocol.md §1.1). */
export interface Envelope<T = Record<string, unknown>> {
  code: number;
  status: string;
  results: T;
}

export function envelope<T>(code: number, status: string, results: T): Envelope<T> {
  return { code, status, results };
}

export function success<T>(results: T, code = 200): Envelope<T> {
  return { code, status: code === 200 ? 'Success' : (STATUS_CODES[code] ?? 'Success'), results };
}

export function failure(code: number, status?: string): Envelope<Record<string, never>> {
  return { code, status: status ?? STATUS_CODES[code] ?? 'Error', results: {} };
}
