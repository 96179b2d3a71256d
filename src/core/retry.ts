/** Retry policy: how long a requeued job waits before it is claimable again. Pure, no clock. */

export interface BackoffOptions {
  /** Delay before the first retry. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [d/2, d] where d = base * 2^(attempt-1),
 * capped at `maxMs`. `random` is injected so tests can pin it.
 */
export function backoffMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(exponent, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
