/**
 * The reaper: requeues (or dead-letters) expired leases, marks silent factories lost and removes those
 * silent for long from the fleet, on a timer.
 */
import type { CoordinatorContext } from './context.js';

/** How long a stopped or lost factory stays listed. */
export const DEFAULT_FACTORY_EXPIRY_MS = 86_400_000;

export function startReaper(ctx: CoordinatorContext, intervalMs: number): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = async (): Promise<void> => {
    try {
      const expired = await ctx.store.expireLeases(ctx.policy);
      for (const lease of expired) {
        ctx.metrics.leaseExpiries.inc();
        ctx.log.warn({ jobId: lease.jobId, epoch: lease.epoch, factoryId: lease.factoryId }, 'lease expired');
      }
      ctx.metrics.deadLetters.inc(expired.filter((lease) => lease.outcome === 'dead_letter').length);
      const lost = await ctx.store.markLostFactories(ctx.options.heartbeatMs * 3);
      for (const factory of lost) ctx.log.warn({ factoryId: factory.id }, 'factory lost: no heartbeat for 3 intervals');
      const gone = await ctx.store.expireFactories(ctx.options.factoryExpiryMs ?? DEFAULT_FACTORY_EXPIRY_MS);
      for (const factory of gone)
        ctx.log.info({ factoryId: factory.id, lost: factory.lost }, 'factory removed from the fleet: silent for long');
    } catch (error) {
      ctx.log.error({ err: error }, 'reaper pass failed');
    }
  };
  const timer = setInterval(() => {
    running ??= tick().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
