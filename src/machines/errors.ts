/**
 * privacyIDEA's error classes (spec §1.4) expressed as KeylimeErrors. Each carries the
 * privacyIDEA `error.code` and the exact `error.message` the envelope must show, so the
 * server never has to know which class a failure came from.
 */
import { KeylimeError } from '../errors.js';

/** The message Flask puts on every unexpected exception in production. */
export const GENERIC_500_MESSAGE =
  '500 Internal Server Error: The server encountered an internal error and was unable to complete your request. ' +
  'Either the server is overloaded or there is an error in the application.';

export const PI_CODES = {
  parameter: 905,
  validate: 401,
  notFound: 601,
  policy: 303,
  internal: -500,
} as const;

export interface PrivacyIdeaErrorShape {
  /** HTTP status. */
  status: number;
  /** `result.error.code`. */
  code: number;
  /** `result.error.message`. */
  message: string;
  /** The envelope's `detail` (null unless the failure has details to show). */
  detail: Record<string, unknown> | null;
}

function piError(
  kind: ConstructorParameters<typeof KeylimeError>[0],
  status: number,
  code: number,
  wireMessage: string,
  message: string = wireMessage,
  detail: Record<string, unknown> | null = null,
): KeylimeError {
  return new KeylimeError(kind, message, {
    status,
    details: { privacyidea: { status, code, message: wireMessage, detail } satisfies PrivacyIdeaErrorShape },
  });
}

/** ParameterError: 400, code 905, `ERR905: <message>`. */
export function parameterError(message: string): KeylimeError {
  return piError('invalid_input', 400, PI_CODES.parameter, `ERR905: ${message}`);
}

/** `Missing parameter: <name>` as getParam(optional=False) raises it. */
export function missingParameter(name: string): KeylimeError {
  return parameterError(`Missing parameter: ${name}`);
}

/** ValidateError: 400, code 401, `ERR401: <message>`. */
export function validateError(message: string): KeylimeError {
  return piError('verification', 400, PI_CODES.validate, `ERR401: ${message}`);
}

/** ResourceNotFoundError: 404, code 601, the bare message. */
export function resourceNotFound(message: string): KeylimeError {
  return piError('not_found', 404, PI_CODES.notFound, message);
}

/** PolicyError: 403, code 303, the bare message. */
export function policyError(message: string, detail: Record<string, unknown> | null = null): KeylimeError {
  return piError('forbidden', 403, PI_CODES.policy, message, message, detail);
}

/** The admin-policy refusal of §1.1. */
export function actionNotAllowed(action: string): KeylimeError {
  return policyError(`Admin actions are defined, but the action ${action} is not allowed!`);
}

/** AuthError: 401 with codes 4033 (missing header), 4304/4305/4306 (bad, expired, wrong role). */
export function authError(code: 4033 | 4304 | 4305 | 4306, reason: string): KeylimeError {
  const message = `Authentication failure. ${reason}`;
  return piError('unauthorized', 401, code, message);
}

/**
 * A plain Python exception in privacyIDEA: 500, code -500, and on the wire Flask's generic
 * text. The original text stays in the KeylimeError message for logs and the CLI.
 */
export function internalError(message: string): KeylimeError {
  return piError('internal', 500, PI_CODES.internal, GENERIC_500_MESSAGE, message);
}

/** Anything thrown below an endpoint function becomes a KeylimeError; unknown failures are 500s. */
export function asKeylimeError(e: unknown): KeylimeError {
  if (e instanceof KeylimeError) return e;
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return internalError(message);
}

/** Runs an endpoint body so that it rejects with KeylimeErrors only. */
export async function guarded<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    throw asKeylimeError(e);
  }
}

/**
 * The privacyIDEA view of any error. KeylimeErrors from other layers map by HTTP status:
 * 404 → 601, 403 → 303, 401 → 4304, 5xx → -500 with the generic text, else 905 with `ERR905: `.
 */
export function toPrivacyIdeaError(e: unknown): PrivacyIdeaErrorShape {
  if (!(e instanceof KeylimeError)) return { status: 500, code: PI_CODES.internal, message: GENERIC_500_MESSAGE, detail: null };
  const carried = e.details.privacyidea as PrivacyIdeaErrorShape | undefined;
  if (carried && typeof carried === 'object' && typeof carried.code === 'number') return carried;
  const status = e.status;
  if (status === 404) return { status, code: PI_CODES.notFound, message: e.message, detail: null };
  if (status === 403) return { status, code: PI_CODES.policy, message: e.message, detail: null };
  if (status === 401) return { status, code: 4304, message: `Authentication failure. ${e.message}`, detail: null };
  if (status >= 500) return { status: 500, code: PI_CODES.internal, message: GENERIC_500_MESSAGE, detail: null };
  return { status: 400, code: PI_CODES.parameter, message: `ERR905: ${e.message}`, detail: null };
}
