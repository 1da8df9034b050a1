import { join } from 'node:path';
import { JsonStore } from '../../store/json-file.js';
import type { AgentsData, MbPolicyRecord, PoliciesData, RuntimePolicyRecord, VerifierAgent } from './record.js';

/** Counters may lag on disk by at most this much (DESIGN: a crash loses ≤ 5 s of counters). */
export const COUNTER_FLUSH_MS = 2_000;

/**
 * Verifier persistence. Agents and policies live in two files so that flushing the hot
 * counters of many agents never rewrites megabytes of runtime policies. Lifecycle changes
 * (`put`, `patch`, `delete`) are on disk when they resolve; `touch` only changes memory and
 * is written by the next flush (every COUNTER_FLUSH_MS while `startFlushing` runs).
 */
export class VerifierStore {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly agentsFile: JsonStore<AgentsData>,
    private readonly policiesFile: JsonStore<PoliciesData>,
  ) {}

  static async open(dataDir: string): Promise<VerifierStore> {
    const agents = await JsonStore.open<AgentsData>(join(dataDir, 'verifier-agents.json'), { agents: {} });
    const policies = await JsonStore.open<PoliciesData>(join(dataDir, 'verifier-policies.json'), { runtime: {}, mb: {} });
    return new VerifierStore(agents, policies);
  }

  /** The live record; change it only through patch/touch. */
  get(id: string): Readonly<VerifierAgent> | undefined {
    return this.agentsFile.data.agents[id];
  }

  all(): Readonly<VerifierAgent>[] {
    return Object.values(this.agentsFile.data.agents);
  }

  ids(verifierId?: string): string[] {
    return this.all()
      .filter((a) => verifierId === undefined || a.verifier_id === verifierId)
      .map((a) => a.agent_id);
  }

  async put(agent: VerifierAgent): Promise<void> {
    await this.agentsFile.update((d) => {
      d.agents[agent.agent_id] = agent;
    });
  }

  /** Durable change of an existing agent; false when it is gone. */
  async patch(id: string, fn: (agent: VerifierAgent) => void): Promise<boolean> {
    return this.agentsFile.update((d) => {
      const agent = d.agents[id];
      if (!agent) return false;
      fn(agent);
      return true;
    });
  }

  /** One durable write for many agents (verifier start). */
  async patchMany(ids: readonly string[], fn: (agent: VerifierAgent) => void): Promise<void> {
    if (ids.length === 0) return;
    await this.agentsFile.update((d) => {
      for (const id of ids) {
        const agent = d.agents[id];
        if (agent) fn(agent);
      }
    });
  }

  /** In-memory change (counters, timestamps); written by the next flush or durable change. */
  touch(id: string, fn: (agent: VerifierAgent) => void): boolean {
    let found = false;
    this.agentsFile.touch((d) => {
      const agent = d.agents[id];
      if (agent) {
        fn(agent);
        found = true;
      }
    });
    return found;
  }

  async delete(id: string): Promise<boolean> {
    return this.agentsFile.update((d) => {
      const had = id in d.agents;
      delete d.agents[id];
      return had;
    });
  }

  runtimePolicy(name: string): Readonly<RuntimePolicyRecord> | undefined {
    return this.policiesFile.data.runtime[name];
  }

  runtimePolicyNames(): string[] {
    return Object.keys(this.policiesFile.data.runtime);
  }

  async putRuntimePolicy(policy: RuntimePolicyRecord): Promise<void> {
    await this.policiesFile.update((d) => {
      d.runtime[policy.name] = policy;
    });
  }

  async deleteRuntimePolicy(name: string): Promise<boolean> {
    return this.policiesFile.update((d) => {
      const had = name in d.runtime;
      delete d.runtime[name];
      return had;
    });
  }

  mbPolicy(name: string): Readonly<MbPolicyRecord> | undefined {
    return this.policiesFile.data.mb[name];
  }

  mbPolicyNames(): string[] {
    return Object.keys(this.policiesFile.data.mb);
  }

  async putMbPolicy(policy: MbPolicyRecord): Promise<void> {
    await this.policiesFile.update((d) => {
      d.mb[policy.name] = policy;
    });
  }

  async deleteMbPolicy(name: string): Promise<boolean> {
    return this.policiesFile.update((d) => {
      const had = name in d.mb;
      delete d.mb[name];
      return had;
    });
  }

  async flush(): Promise<void> {
    await this.agentsFile.flush();
  }

  startFlushing(intervalMs = COUNTER_FLUSH_MS, onError: (e: unknown) => void = () => {}): void {
    this.stopFlushing();
    this.timer = setInterval(() => {
      this.flush().catch(onError);
    }, intervalMs);
    this.timer.unref();
  }

  stopFlushing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
