import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/servers/verifier/clock.js';
import { PollScheduler } from '../../../src/servers/verifier/scheduler.js';

describe('PollScheduler', () => {
  it('runs tasks at their due time, in due order, one pending task per id', async () => {
    const clock = new ManualClock(0);
    const ran: string[] = [];
    const s = new PollScheduler<string>(clock, 4, async (id, task) => void ran.push(`${id}:${task}@${clock.now()}`));
    s.schedule('b', 200, 'x');
    s.schedule('a', 100, 'y');
    s.schedule('a', 300, 'z'); // replaces a's pending task
    expect(s.pendingCount).toBe(2);
    clock.advance(250);
    await s.idle();
    clock.advance(100);
    await s.idle();
    expect(ran).toEqual(['b:x@200', 'a:z@300']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('never runs more than `concurrency` tasks, nor two of the same id at once', async () => {
    const clock = new ManualClock(0);
    let running = 0;
    let peak = 0;
    const perId = new Map<string, number>();
    const releases: (() => void)[] = [];
    const s = new PollScheduler<number>(clock, 2, async (id) => {
      running++;
      peak = Math.max(peak, running);
      perId.set(id, (perId.get(id) ?? 0) + 1);
      expect(perId.get(id)).toBe(1);
      await new Promise<void>((r) => releases.push(r));
      perId.set(id, perId.get(id)! - 1);
      running--;
    });
    for (const id of ['a', 'b', 'c', 'd']) s.schedule(id, 0, 1);
    await Promise.resolve();
    expect(s.runningCount).toBe(2);
    s.schedule('a', 0, 2); // a is running: deferred until it ends
    while (releases.length) {
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await s.idle();
    expect(peak).toBe(2);
  });

  it('cancel drops a pending task; close stops everything', async () => {
    const clock = new ManualClock(0);
    const ran: string[] = [];
    const s = new PollScheduler<string>(clock, 1, async (id) => void ran.push(id));
    s.schedule('a', 10, 't');
    expect(s.cancel('a')).toBe(true);
    expect(s.cancel('a')).toBe(false);
    s.schedule('b', 10, 't');
    await s.close();
    clock.advance(100);
    await s.idle();
    expect(ran).toEqual([]);
    s.schedule('c', 0, 't');
    expect(s.pendingCount).toBe(0);
  });

  it('keeps going when a task throws', async () => {
    const clock = new ManualClock(0);
    const errors: string[] = [];
    const ran: string[] = [];
    const s = new PollScheduler<string>(
      clock,
      1,
      async (id) => {
        if (id === 'bad') throw new Error('boom');
        ran.push(id);
      },
      (id, e) => errors.push(`${id}: ${(e as Error).message}`),
    );
    s.schedule('bad', 0, 't');
    s.schedule('good', 0, 't');
    await s.idle();
    expect(errors).toEqual(['bad: boom']);
    expect(ran).toEqual(['good']);
  });
});
