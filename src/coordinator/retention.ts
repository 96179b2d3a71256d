/**
 * `[retention]` applied by the coordinator: every interval, the leading coordinator (the one running the
 * reaper) removes finished jobs and old events past their age, in bounded batches between which it keeps
 * serving (`Store.collectGarbage`). `conveyor gc` does the same on demand.
 */
import type { RetentionConfig } from '../config/retention.js';
import type { GarbageCount } from '../store/store.js';
import type { CoordinatorContext } from './context.js';

/** The cut-off times a retention sets, as of `now`. */
export function retentionCutoffs(
  retention: Pick<RetentionConfig, 'eventsMaxAgeMs' | 'jobsMaxAgeMs'>,
  now: number,
): { jobsBefore: number | undefined; eventsBefore: number | undefined } {
  return {
    jobsBefore: retention.jobsMaxAgeMs === undefined ? undefined : now - retention.jobsMaxAgeMs,
    eventsBefore: retention.eventsMaxAgeMs === undefined ? undefined : now - retention.eventsMaxAgeMs,
  };
}

/** Starts the periodic pass when retention is set; `leading` says whether this coordinator leads now. */
export function startRetention(
  ctx: CoordinatorContext,
  retention: RetentionConfig | undefined,
  leading: () => boolean,
): () => Promise<void> {
  if (retention === undefined || (retention.eventsMaxAgeMs === undefined && retention.jobsMaxAgeMs === undefined))
    return () => Promise.resolve();
  let running: Promise<GarbageCount | undefined> | undefined;
  const pass = async (): Promise<GarbageCount | undefined> => {
    if (!leading()) return undefined;
    try {
      const removed = await ctx.store.collectGarbage(retentionCutoffs(retention, ctx.clock.now()));
      if (removed.jobs + removed.events > 0)
        ctx.log.info({ removed }, 'retention: removed finished jobs and old events');
      return removed;
    } catch (error) {
      ctx.log.error({ err: error }, 'retention pass failed');
      return undefined;
    }
  };
  const timer = setInterval(() => {
    running ??= pass().finally(() => {
      running = undefined;
    });
  }, retention.intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
