/**
 * One error family for the whole program. Servers turn a KeylimeError into the
 * Keylime envelope with its HTTP status; the CLI turns it into an exit code and
 * one sentence on stderr. Parsers of untrusted bytes throw only these.
 */
export type ErrorCode =
  | 'usage'
  | 'invalid_input'
  | 'parse'
  | 'not_found'
  | 'conflict'
  | 'forbidden'
  | 'unauthorized'
  | 'unreachable'
  | 'tpm'
  | 'verification'
  | 'internal';

const defaultStatus: Record<ErrorCode, number> = {
  usage: 400,
  invalid_input: 400,
  parse: 400,
  not_found: 404,
  conflict: 409,
  forbidden: 403,
  unauthorized: 401,
  unreachable: 503,
  tpm: 500,
  verification: 400,
  internal: 500,
};

/** CLI exit codes (DESIGN.md): 1 check false, 2 usage/input, 3 unreachable, 4 not found. */
const exitCodes: Record<ErrorCode, number> = {
  usage: 2,
  invalid_input: 2,
  parse: 2,
  not_found: 4,
  conflict: 2,
  forbidden: 2,
  unauthorized: 2,
  unreachable: 3,
  tpm: 3,
  verification: 1,
  internal: 2,
};

export interface KeylimeErrorOptions {
  status?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class KeylimeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: KeylimeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeylimeError';
    this.code = code;
    this.status = options.status ?? defaultStatus[code];
    this.details = options.details ?? {};
  }

  get exitCode(): number {
    return exitCodes[this.code];
  }
}

/** Malformed bytes: a TPM structure, an IMA line, an event log. `offset` names where. */
export class ParseError extends KeylimeError {
  readonly offset: number | undefined;
  constructor(message: string, offset?: number, details: Record<string, unknown> = {}) {
    super('parse', offset === undefined ? message : `${message} (at byte offset ${offset})`, {
      details: offset === undefined ? details : { ...details, offset },
    });
    this.name = 'ParseError';
    this.offset = offset;
  }
}

/** A tpm2-tools command failed: which tool, its exit code and what it printed. */
export class TpmError extends KeylimeError {
  readonly tool: string;
  readonly exitStatus: number | undefined;
  readonly stderr: string;
  constructor(tool: string, exitStatus: number | undefined, stderr: string, message?: string) {
    super('tpm', message ?? `${tool} failed${exitStatus === undefined ? '' : ` (exit ${exitStatus})`}: ${firstLine(stderr)}`, {
      details: { tool, exitStatus, stderr },
    });
    this.name = 'TpmError';
    this.tool = tool;
    this.exitStatus = exitStatus;
    this.stderr = stderr;
  }
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '');
  return line?.trim() ?? 'no output';
}

export function invalidInput(message: string, details?: Record<string, unknown>): KeylimeError {
  return new KeylimeError('invalid_input', message, { details });
}

export function notFound(message: string): KeylimeError {
  return new KeylimeError('not_found', message);
}

export function isKeylimeError(e: unknown): e is KeylimeError {
  return e instanceof KeylimeError;
}
