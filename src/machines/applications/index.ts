/**
 * The application registry (§4.1): base, luks, offline, ssh are valid for attach; base
 * is not listed by GET /application/ and its item ("nothing") breaks authitem with a 500,
 * which is reproduced on purpose.
 */
import type { AuthItem, MachineApplication } from './types.js';
import { luksApplication } from './luks.js';
import { offlineApplication } from './offline.js';
import { sshApplication } from './ssh.js';

const baseApplication: MachineApplication = {
  name: 'base',
  async computeItem(): Promise<string> {
    return 'nothing';
  },
};

export const APPLICATIONS: ReadonlyMap<string, MachineApplication> = new Map(
  [baseApplication, luksApplication, offlineApplication, sshApplication].map((app) => [app.name, app]),
);

/** Python's repr of the registry keys, as privacyIDEA puts it in the error message. */
export function applicationNamesRepr(): string {
  return `dict_keys([${[...APPLICATIONS.keys()].map((name) => `'${name}'`).join(', ')}])`;
}

export interface ApplicationOptionSpec {
  type: 'str' | 'int' | 'bool';
  description?: string;
  value?: unknown[];
}

/** GET /application/ value: option descriptions per application and token type. */
export function applicationCatalogue(serviceIds: readonly string[] = []): Record<string, { options: Record<string, Record<string, ApplicationOptionSpec>> }> {
  return {
    luks: {
      options: {
        totp: {
          slot: { type: 'int', value: [0, 1, 2, 3, 4, 5, 6, 7] },
          partition: { type: 'str' },
        },
      },
    },
    offline: {
      options: {
        hotp: { count: { type: 'str' }, rounds: { type: 'str' } },
        webauthn: {},
        passkey: {},
      },
    },
    ssh: {
      options: {
        sshkey: {
          user: { type: 'str', description: 'The username on the SSH server.' },
          service_id: {
            type: 'str',
            description: 'The service ID of the SSH server. Several servers can share a service ID.',
            value: [...serviceIds],
          },
        },
      },
    },
  };
}

export type { AuthItem, MachineApplication };
export { authorizedKeysText } from './ssh.js';
