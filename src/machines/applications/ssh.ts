/**
 * The ssh application (§4.2): the public key line of an active sshkey token, for an
 * AuthorizedKeysCommand. A `user` filter must equal the binding's `user` option exactly.
 */
import { getOption } from '../options.js';
import { pyTruthy } from '../python.js';
import { sshKeyLine } from '../tokens.js';
import type { AuthItem, AuthItemRequest, MachineApplication } from './types.js';

export const sshApplication: MachineApplication = {
  name: 'ssh',
  async computeItem(_ctx, { token, options, filterParam }: AuthItemRequest): Promise<AuthItem> {
    if (token.tokentype.toLowerCase() !== 'sshkey' || !token.active) return {};
    const userFilter = filterParam.get('user');
    // No wildcard here, unlike the list filter: a strict second check (quirk 3).
    if (pyTruthy(userFilter) && userFilter !== getOption(options, 'user')) return {};
    const item: AuthItem = { sshkey: sshKeyLine(token) };
    if (token.owner) item.username = token.owner;
    return item;
  },
};

/** authorized_keys text from the `ssh` items of an authitem answer: one key line each. */
export function authorizedKeysText(items: readonly AuthItem[]): string {
  return items
    .map((item) => item.sshkey)
    .filter((line): line is string => typeof line === 'string' && line !== '')
    .map((line) => `${line}\n`)
    .join('');
}
