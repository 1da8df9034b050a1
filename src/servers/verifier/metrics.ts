/**
 * Prometheus text exposition (format 0.0.4) of what the verifier did: counters kept in
 * memory since start, gauges computed from the store at scrape time.
 */
type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

class LabelledCounter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    /** Unlabelled counters print 0 before their first increment; labelled ones print nothing. */
    private readonly labelled = true,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0 && !this.labelled) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines;
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (value <= b) this.counts[i]!++;
    });
  }

  get observations(): number {
    return this.count;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${num(b)}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${num(this.sum)}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

export type PollOutcome = 'pass' | 'fail' | 'unreachable' | 'error' | 'discarded';

export interface GaugeSample {
  labels: Labels;
  value: number;
}

export interface MetricsSnapshot {
  agentsByState: GaugeSample[];
  lastAttestationAge: GaugeSample[];
}

export class VerifierMetrics {
  readonly polls = new LabelledCounter('keylime_verifier_polls_total', 'Integrity quote requests answered or given up, by outcome: pass, fail (attestation failure), unreachable (retried), error (unexpected answer), discarded (agent stopped or deleted meanwhile).');
  readonly attestations = new LabelledCounter('keylime_verifier_attestations_total', 'Quotes that verified and passed every policy.', false);
  readonly failures = new LabelledCounter('keylime_verifier_failure_events_total', 'Attestation failure events, by Keylime event id.');
  readonly vDeliveries = new LabelledCounter('keylime_verifier_v_deliveries_total', 'V keys delivered to agents (POST /keys/vkey answered 200).', false);
  readonly notifications = new LabelledCounter('keylime_verifier_revocation_notifications_total', 'Revocation notification deliveries, by type, target and outcome.');
  readonly pollSeconds = new Histogram('keylime_verifier_poll_duration_seconds', 'Time from sending an integrity quote request to its answer.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

  render(snapshot: MetricsSnapshot): string {
    const gauge = (name: string, help: string, samples: GaugeSample[]) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      ...samples.map((s) => `${name}${labelText(s.labels)} ${num(s.value)}`),
    ];
    return (
      [
        ...gauge('keylime_verifier_agents', 'Agents of this verifier, by operational state.', snapshot.agentsByState),
        ...gauge(
          'keylime_verifier_last_successful_attestation_age_seconds',
          'Seconds since the last successful attestation of each agent being polled.',
          snapshot.lastAttestationAge,
        ),
        ...this.polls.render(),
        ...this.attestations.render(),
        ...this.failures.render(),
        ...this.vDeliveries.render(),
        ...this.notifications.render(),
        ...this.pollSeconds.render(),
      ].join('\n') + '\n'
    );
  }
}
