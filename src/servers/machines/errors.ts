/**
 * privacyIDEA answers many bad requests with a bare 500 (spec §1.4, §7 quirk 10): an
 * unknown hostname, an odd-length luks challenge, a missing option. The domain module
 * reproduces those as internal errors that keep the original text; here, at the HTTP
 * edge, the ones caused by the request become 400 (code 905) or 404 (code 601) with that
 * text, so a client learns what to fix. Failures of the server itself stay 500.
 */
import { isKeylimeError } from '../../errors.js';
import { parameterError, resourceNotFound } from '../../machines/index.js';

type Remap = { pattern: RegExp; status: 400 | 404; message?: string };

const REMAPS: readonly Remap[] = [
  { pattern: /^There is no machine with name=/, status: 404 },
  { pattern: /^Can not get unique ID for hostname=/, status: 400 },
  { pattern: /^Incomplete tuple of machine_id and resolver_name/, status: 400, message: 'Name the machine with hostname, or with both machineid and resolver.' },
  { pattern: /^AttributeError: there is no machine resolver named/, status: 404 },
  { pattern: /^There is no machinetoken with id/, status: 404 },
  { pattern: /^There is no option /, status: 404 },
  { pattern: /^re\.error: /, status: 400 },
  { pattern: /^binascii\.Error: /, status: 400 },
  { pattern: /^TypeError: the (luks|offline) challenge/, status: 400 },
  { pattern: /^ValueError: /, status: 400 },
  { pattern: /^IntegrityError: NOT NULL/, status: 400, message: 'Option values must not be null.' },
  { pattern: /^TypeError: 'str' object does not support item assignment/, status: 400, message: 'The base application has no authentication items; detach the base bindings of this machine.' },
  { pattern: /^The name of the machine resolver is invalid/, status: 400 },
  { pattern: /^machine resolver type /, status: 400 },
  { pattern: /^Can not change the type of a machine resolver/, status: 400 },
  { pattern: /^type or description without value/, status: 400 },
];

const PYTHON_CLASS = /^(?:TypeError|ValueError|AttributeError|IntegrityError|binascii\.Error|re\.error): /;

/** The error to answer with: request-caused internal errors remapped, anything else as it is. */
export function clientFacingError(error: unknown): unknown {
  if (!isKeylimeError(error) || error.status !== 500) return error;
  const carried = error.details.privacyidea as { code?: number } | undefined;
  if (carried?.code !== -500) return error;
  const remap = REMAPS.find((r) => r.pattern.test(error.message));
  if (!remap) return error;
  const message = remap.message ?? error.message.replace(PYTHON_CLASS, '');
  return remap.status === 404 ? resourceNotFound(message) : parameterError(message);
}
