/**
 * Machine-token figures: the HOTP core, a luks authitem answer end to end, an offline
 * answer (100 PBKDF2-SHA512 hashes at 6549 rounds, the privacyIDEA default), and a
 * wildcard-filtered binding listing over 1000 bindings.
 */
import type { Figure } from './harness.js';
import { medianMs, opsPerSecond } from './harness.js';
import {
  MemoryMachineRepository,
  attachToken,
  createMachineDirectory,
  enrollToken,
  getAuthItems,
  hotp,
  listTokenBindings,
  paramsOf,
  setMachineResolver,
  type MachineContext,
} from '../src/machines/index.js';

const HOSTS = Array.from({ length: 50 }, (_, i) => `10.0.${i >> 8}.${i & 255} host${i}`).join('\n');

async function context(): Promise<MachineContext> {
  const ctx: MachineContext = {
    repo: new MemoryMachineRepository(),
    machines: createMachineDirectory({ readHostsFile: () => HOSTS }),
    secretKey: Buffer.alloc(32, 1),
  };
  await setMachineResolver(ctx, 'hosts', paramsOf({ type: 'hosts', filename: 'mem' }));
  return ctx;
}

export const figures: Figure[] = [
  {
    name: 'machines.hotp.sha1',
    unit: 'ops/s',
    run: () => {
      const key = Buffer.from('12345678901234567890');
      let c = 0;
      return opsPerSecond(() => hotp(key, c++));
    },
  },
  {
    name: 'machines.authitem.luks',
    unit: 'ops/s',
    run: async () => {
      const ctx = await context();
      await enrollToken(ctx, { type: 'luks', serial: 'UBOM0001' });
      await attachToken(ctx, paramsOf({ serial: 'UBOM0001', application: 'luks', hostname: 'host7', slot: '1' }));
      const params = paramsOf({ hostname: 'host7', challenge: 'ab'.repeat(32) });
      return opsPerSecond(() => getAuthItems(ctx, params, 'luks'));
    },
  },
  {
    name: 'machines.authitem.offline100',
    unit: 'ms',
    run: async () => {
      const ctx = await context();
      await enrollToken(ctx, { type: 'hotp', serial: 'OATH0001' });
      await attachToken(ctx, paramsOf({ serial: 'OATH0001', application: 'offline', hostname: 'host3' }));
      const params = paramsOf({ hostname: 'host3' });
      return medianMs(() => getAuthItems(ctx, params, 'offline'), 7);
    },
  },
  {
    name: 'machines.token.list1000.wildcard',
    unit: 'ops/s',
    run: async () => {
      const ctx = await context();
      for (let t = 0; t < 100; t++) {
        const { token } = await enrollToken(ctx, { type: 'sshkey', sshkey: `ssh-ed25519 KEY${t} c${t}` });
        for (let b = 0; b < 10; b++) {
          await attachToken(ctx, paramsOf({ serial: token.serial, application: 'ssh', machineid: 0, resolver: '', user: `user${b}`, service_id: `svc${t % 7}` }));
        }
      }
      const params = paramsOf({ user: 'USER1*', serial: 'SSHK*', sortby: 'service_id', sortdir: 'desc' });
      return opsPerSecond(() => listTokenBindings(ctx, params), 1);
    },
  },
];
