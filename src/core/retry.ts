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

/** The attempt counts of a job, as the store and its views carry them. */
export interface AttemptCounts {
  attempts: number;
  maxAttempts: number;
}

/**
 * Whether a claim of this job is reconcile-only: its attempts are spent, yet it was queued again because
 * its last run lost its lease while it could have been shipping. The claimant runs nothing: it looks for
 * the job's commit on the target, and the job is shipped when it is there, dead-lettered when it is not.
 * Such a claim costs no attempt (attempts never count past the maximum).
 */
export function isReconcileOnly(job: AttemptCounts): boolean {
  return job.attempts >= job.maxAttempts;
}

/**
 * Whether a claim under `leaseEpoch` is not the job's first: an earlier run may have shipped it before
 * its lease was lost, so the claimant checks the target for the job's commit before running anything.
 */
export function isRetriedClaim(leaseEpoch: number): boolean {
  return leaseEpoch > 1;
}
