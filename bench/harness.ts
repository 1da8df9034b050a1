/**
 * Benchmarks print one line per figure: `<name> <value> <unit>`, so scripts can read them.
 * A bench module exports `figures`; `npm run bench -- <prefix>` runs only names under it.
 */
export interface Figure {
  name: string;
  unit: string;
  /** Measures and returns the figure's value. */
  run(): Promise<number>;
}

/** Calls `fn` repeatedly for about `seconds` (after a warm-up) and returns operations per second. */
export async function opsPerSecond(fn: () => unknown, seconds = 2): Promise<number> {
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) await fn();
  let count = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) await fn();
    count += 50;
  }
  return Math.round((count * 1000) / (performance.now() - start));
}

/** Runs `fn` `n` times and returns the median duration in milliseconds. */
export async function medianMs(fn: () => Promise<unknown>, n = 25): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]! * 100) / 100;
}
