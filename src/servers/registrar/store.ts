import { join } from 'node:path';
import { JsonStore } from '../../store/json-file.js';
import type { RegistrarAgent, RegistrarData } from './record.js';

/** Registrar persistence: every change is on disk before the HTTP answer. */
export class RegistrarStore {
  private constructor(private readonly store: JsonStore<RegistrarData>) {}

  static async open(dataDir: string): Promise<RegistrarStore> {
    return new RegistrarStore(await JsonStore.open<RegistrarData>(join(dataDir, 'registrar.json'), { agents: {} }));
  }

  get(id: string): RegistrarAgent | undefined {
    return this.store.data.agents[id];
  }

  ids(): string[] {
    return Object.keys(this.store.data.agents);
  }

  async put(agent: RegistrarAgent): Promise<void> {
    await this.store.update((d) => {
      d.agents[agent.agent_id] = agent;
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.store.update((d) => {
      const had = id in d.agents;
      delete d.agents[id];
      return had;
    });
  }
}
