import { invalidInput } from '../../errors.js';
import { eventContextJson, type AttestationEvent } from './events.js';

/** Keylime's `severity_labels` default; the level of a label is its index. */
export const DEFAULT_SEVERITY_LABELS = ['info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;

export interface SeverityRule {
  /** A regular expression that must match the whole event id (Python re.fullmatch). */
  event_id: string;
  severity_label: string;
}

/** Keylime's default: every event is of the highest severity, so every failure is final. */
export const DEFAULT_SEVERITY_RULES: readonly SeverityRule[] = [{ event_id: '.*', severity_label: 'emergency' }];

export interface RankedEvent extends AttestationEvent {
  severityLabel: string;
  severityLevel: number;
  /** The context as stored and sent (JSON text). */
  contextJson: string;
}

/** The events of one failed attestation round, ranked. */
export interface Failure {
  events: RankedEvent[];
  /** The first event of the highest severity. */
  highest: RankedEvent;
  /** True only if every event is recoverable. */
  recoverable: boolean;
}

/**
 * Ranks events by the severity policy (§5.4): first matching rule wins, irrecoverable
 * events are forced to the highest label, an event no rule matches gets the highest too
 * (Keylime falls back to the maximum as well).
 */
export class SeverityPolicy {
  readonly labels: readonly string[];
  private readonly rules: { pattern: RegExp; label: string; level: number }[];

  constructor(rules: readonly SeverityRule[] = DEFAULT_SEVERITY_RULES, labels: readonly string[] = DEFAULT_SEVERITY_LABELS) {
    if (labels.length === 0) throw invalidInput('severity_labels must name at least one label');
    this.labels = [...labels];
    this.rules = rules.map((rule, i) => {
      const level = labels.indexOf(rule.severity_label);
      if (level < 0) throw invalidInput(`severity_policy rule ${i + 1}: unknown severity_label '${rule.severity_label}' (labels: ${labels.join(', ')})`);
      let pattern: RegExp;
      try {
        pattern = new RegExp(`^(?:${rule.event_id})$`);
      } catch (e) {
        throw invalidInput(`severity_policy rule ${i + 1}: event_id is not a valid regular expression: ${(e as Error).message}`);
      }
      return { pattern, label: rule.severity_label, level };
    });
  }

  get maxLevel(): number {
    return this.labels.length - 1;
  }

  get maxLabel(): string {
    return this.labels[this.maxLevel]!;
  }

  rank(event: AttestationEvent): RankedEvent {
    const rule = event.recoverable ? this.rules.find((r) => r.pattern.test(event.eventId)) : undefined;
    const level = rule ? rule.level : this.maxLevel;
    return { ...event, severityLabel: this.labels[level]!, severityLevel: level, contextJson: eventContextJson(event) };
  }

  /** undefined when there is nothing to report. */
  failure(events: readonly AttestationEvent[]): Failure | undefined {
    if (events.length === 0) return undefined;
    const ranked = events.map((e) => this.rank(e));
    let highest = ranked[0]!;
    for (const e of ranked) if (e.severityLevel > highest.severityLevel) highest = e;
    return { events: ranked, highest, recoverable: ranked.every((e) => e.recoverable) };
  }

  /**
   * A severity policy file: either the list of rules, or
   * {"severity_labels": [...], "severity_policy": [...]} as in verifier.conf.
   */
  static parse(text: string): SeverityPolicy {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw invalidInput(`severity policy is not JSON: ${(e as Error).message}`);
    }
    const rulesValue = Array.isArray(doc) ? doc : (doc as Record<string, unknown> | null)?.severity_policy;
    const labelsValue = Array.isArray(doc) ? undefined : (doc as Record<string, unknown> | null)?.severity_labels;
    if (!Array.isArray(rulesValue)) throw invalidInput('severity policy must be a list of {"event_id", "severity_label"} or an object with "severity_policy"');
    const rules = rulesValue.map((r, i) => {
      const rule = r as Record<string, unknown> | null;
      if (typeof rule?.event_id !== 'string' || typeof rule.severity_label !== 'string') {
        throw invalidInput(`severity_policy rule ${i + 1} needs string fields "event_id" and "severity_label"`);
      }
      return { event_id: rule.event_id, severity_label: rule.severity_label };
    });
    let labels: string[] | undefined;
    if (labelsValue !== undefined) {
      if (!Array.isArray(labelsValue) || !labelsValue.every((l) => typeof l === 'string')) throw invalidInput('severity_labels must be a list of strings');
      labels = labelsValue as string[];
    }
    return new SeverityPolicy(rules, labels);
  }
}
