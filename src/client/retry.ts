/** Keylime's retry settings (retry_interval, max_retries, exponential_backoff). */
export interface RetryPolicy {
  /** Seconds; the base of the backoff. */
  retryInterval: number;
  maxRetries: number;
  exponentialBackoff: boolean;
}

export const DEFAULT_RETRY: RetryPolicy = { retryInterval: 2, maxRetries: 5, exponentialBackoff: true };

/** Keylime's retry_time(): base**n when exponential and base > 1, else base (seconds). */
export function retryDelaySeconds(policy: RetryPolicy, attempt: number): number {
  const base = policy.retryInterval;
  return policy.exponentialBackoff && base > 1 ? base ** attempt : Math.abs(base);
}

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
