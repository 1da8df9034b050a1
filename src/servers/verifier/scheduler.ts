import type { Clock } from './clock.js';

interface Entry<T> {
  id: string;
  due: number;
  seq: number;
  task: T;
  live: boolean;
}

/**
 * Runs one pending task per agent at its due time, at most `concurrency` at once, from a
 * single timer over a min-heap. There are no per-agent timers to drift or pile up; a slow
 * agent holds one slot until its request times out and never delays the others' turns
 * beyond the concurrency bound. A task for an agent whose previous task still runs waits
 * for it, so one agent is never polled twice at the same time.
 */
export class PollScheduler<T> {
  private readonly heap: Entry<T>[] = [];
  private readonly pending = new Map<string, Entry<T>>();
  private readonly deferred = new Map<string, Entry<T>>();
  private readonly active = new Map<string, Promise<void>>();
  private timer: unknown;
  private timerDue = Infinity;
  private seq = 0;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly concurrency: number,
    private readonly run: (id: string, task: T) => Promise<void>,
    private readonly onError: (id: string, error: unknown) => void = () => {},
  ) {
    if (!(concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
  }

  /** Schedules `task` for `id` after `delayMs`, replacing any task still pending for it. */
  schedule(id: string, delayMs: number, task: T): void {
    if (this.closed) return;
    this.cancel(id);
    const entry: Entry<T> = { id, due: this.clock.now() + Math.max(0, delayMs), seq: this.seq++, task, live: true };
    if (this.active.has(id)) {
      this.deferred.set(id, entry);
      return;
    }
    this.push(entry);
    this.pump();
  }

  /** Drops the pending task of `id`; true if there was one (a running task is not stopped). */
  cancel(id: string): boolean {
    const entry = this.pending.get(id) ?? this.deferred.get(id);
    if (!entry) return false;
    entry.live = false;
    this.pending.delete(id);
    this.deferred.delete(id);
    return true;
  }

  isRunning(id: string): boolean {
    return this.active.has(id);
  }

  pendingTask(id: string): { due: number; task: T } | undefined {
    const e = this.pending.get(id) ?? this.deferred.get(id);
    return e ? { due: e.due, task: e.task } : undefined;
  }

  get runningCount(): number {
    return this.active.size;
  }

  get pendingCount(): number {
    return this.pending.size + this.deferred.size;
  }

  /**
   * Resolves when nothing runs and nothing is due now (tests: after ManualClock.advance).
   * Tasks of the agents in `except` (held on purpose by a test) are not waited for.
   */
  async idle(except: ReadonlySet<string> = new Set()): Promise<void> {
    for (;;) {
      this.pump();
      const waiting = [...this.active].filter(([id]) => !except.has(id)).map(([, p]) => p);
      if (waiting.length === 0 && (this.active.size > 0 || !this.dueNow())) return;
      await Promise.allSettled(waiting);
    }
  }

  /** Stops scheduling and waits for running tasks. */
  async close(): Promise<void> {
    this.closed = true;
    this.disarm();
    for (const e of this.pending.values()) e.live = false;
    this.pending.clear();
    this.deferred.clear();
    this.heap.length = 0;
    await Promise.allSettled([...this.active.values()]);
  }

  private dueNow(): boolean {
    const top = this.peek();
    return top !== undefined && top.due <= this.clock.now();
  }

  private pump(): void {
    if (this.closed) return;
    const now = this.clock.now();
    while (this.active.size < this.concurrency) {
      const top = this.peek();
      if (!top || top.due > now) break;
      this.pop();
      this.pending.delete(top.id);
      this.start(top);
    }
    this.arm();
  }

  private start(entry: Entry<T>): void {
    const { id, task } = entry;
    let promise: Promise<void>;
    try {
      promise = this.run(id, task);
    } catch (e) {
      promise = Promise.reject(e);
    }
    const done = promise
      .catch((e) => this.onError(id, e))
      .finally(() => {
        this.active.delete(id);
        const next = this.deferred.get(id);
        if (next) {
          this.deferred.delete(id);
          this.push(next);
        }
        this.pump();
      });
    this.active.set(id, done);
  }

  private arm(): void {
    const top = this.active.size < this.concurrency ? this.peek() : undefined;
    const due = top ? top.due : Infinity;
    if (due === this.timerDue) return;
    this.disarm();
    if (due === Infinity) return;
    this.timerDue = due;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.pump();
    }, due - this.clock.now());
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
  }

  private push(entry: Entry<T>): void {
    this.pending.set(entry.id, entry);
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private peek(): Entry<T> | undefined {
    while (this.heap.length > 0 && !this.heap[0]!.live) this.pop();
    return this.heap[0];
  }

  private pop(): Entry<T> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
