/**
 * The reaper: requeues (or dead-letters) expired leases, marks silent factories lost and removes those
 * silent for long from the fleet, on a timer. It runs on the leading coordinator only (`Store.lead`:
 * on PostgreSQL one of those sharing the database, on SQLite the one there is); the others ask to lead
 * at every interval, so one takes over within an interval of the leader's death.
 */
import type { CoordinatorContext } from './context.js';

/** How long a stopped or lost factory stays listed. */
export const DEFAULT_FACTORY_EXPIRY_MS = 86_400_000;

export interface Reaper {
  /** Whether this coordinator led at the reaper's last pass. */
  leading(): boolean;
  stop(): Promise<void>;
}

export function startReaper(ctx: CoordinatorContext, intervalMs: number): Reaper {
  let running: Promise<void> | undefined;
  let leader = false;
  const lead = async (): Promise<boolean> => {
    const now = await ctx.store.lead().catch((error: unknown) => {
      ctx.log.error({ err: error }, 'cannot tell whether this coordinator leads');
      return false;
    });
    if (now !== leader) {
      leader = now;
      ctx.metrics.reaperLeader.set(now ? 1 : 0);
      if (now) ctx.log.info('leadership taken: this coordinator runs the reaper and retention');
      else ctx.log.warn('leadership lost: another coordinator runs the reaper and retention');
    }
    return now;
  };
  const tick = async (): Promise<void> => {
    if (!(await lead())) return;
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
  return {
    leading: () => leader,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
