/**
 * The reaper's sweeps: leases that ran out (each job requeued or dead-lettered in its own transaction,
 * so one locked row never holds up the rest), factories gone silent (marked lost) and factories gone
 * for long (removed from the fleet).
 */
import type { Factory, JobSpec } from '../core/job.js';
import { isReconcileOnly } from '../core/retry.js';
import { ACTIVE_STAGES, type Stage } from '../core/stages.js';
import type { Selectable } from 'kysely';
import type { FactoriesTable } from './schema.js';
import { type JobRow, toFactory } from './rows.js';
import { appendEvents, type NewEvent, type StoreContext, type Trx } from './store-context.js';
import type { ExpiredLease, RetryPolicy } from './store.js';
import { countAttempt, requeueOrDeadLetter } from './transition.js';

/**
 * Whether the expired run may have shipped: it was in `testing` (where a job ships, after verify) with
 * a policy that ships somewhere, or it was a reconcile-only claim, lost before it could tell.
 */
function mayHaveShipped(row: JobRow): boolean {
  if (isReconcileOnly({ attempts: row.attempts, maxAttempts: row.max_attempts })) return true;
  const ship = (JSON.parse(row.spec) as JobSpec).ship ?? 'none';
  return row.stage === 'testing' && ship !== 'none';
}

export async function expireLeases(ctx: StoreContext, policy: RetryPolicy): Promise<ExpiredLease[]> {
  const now = ctx.clock.now();
  const candidates = await ctx.db
    .selectFrom('jobs')
    .select(['id', 'product', 'lease_epoch', 'lease_factory', 'stage'])
    .where('lease_expires_at', '<', now)
    .where('stage', 'in', ACTIVE_STAGES)
    .limit(500)
    .execute();
  const expired: ExpiredLease[] = [];
  for (const c of candidates) {
    const done = await ctx.backend.writeTransaction(async (trx) => {
      let lock = trx
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', c.id)
        // Compare-and-set: only the lease we saw, still expired, still in that stage. A job completed
        // or renewed a moment ago is left alone.
        .where('lease_epoch', '=', c.lease_epoch)
        .where('stage', '=', c.stage)
        .where('lease_expires_at', '<', now);
      if (ctx.backend.rowLocks) lock = lock.forUpdate().skipLocked();
      const row = await lock.executeTakeFirst();
      if (row === undefined) return undefined;
      const attempts = countAttempt(row);
      const next = await requeueOrDeadLetter(ctx.mover, trx, now, row, policy, {
        type: 'lease.expired',
        attempts,
        patch: { attempts, lease_epoch: row.lease_epoch + 1 },
        payload: { expiredEpoch: row.lease_epoch, factoryId: row.lease_factory },
        runOutcome: 'expired',
        mayHaveShipped: mayHaveShipped(row),
      });
      return next.stage as ExpiredLease['outcome'];
    });
    if (done !== undefined) {
      expired.push({
        jobId: c.id,
        product: c.product,
        epoch: c.lease_epoch,
        factoryId: c.lease_factory,
        stage: c.stage as Stage,
        outcome: done,
      });
      ctx.emit({ kind: 'events' }, { kind: 'jobs', product: c.product });
    }
  }
  return expired;
}

export function markLostFactories(ctx: StoreContext, silentForMs: number): Promise<Factory[]> {
  return sweepFactories(
    ctx,
    (trx, now) =>
      trx
        .updateTable('factories')
        .set({ lost: 1 })
        .where('lost', '=', 0)
        // A factory that said it stopped is not lost: it is silent because it exited.
        .where('health', '!=', 'stopped')
        .where('last_heartbeat_at', '<', now - silentForMs)
        .returningAll()
        .execute(),
    (r) => ({ type: 'factory.lost', payload: { factoryId: r.id, lastHeartbeatAt: r.last_heartbeat_at } }),
  );
}

/**
 * Removes the factories silent for longer than `silentForMs` (stopped or lost long ago) from the fleet,
 * each with a `factory.expired` event. One that heartbeats again later simply joins again.
 */
export function expireFactories(ctx: StoreContext, silentForMs: number): Promise<Factory[]> {
  return sweepFactories(
    ctx,
    (trx, now) =>
      trx
        .deleteFrom('factories')
        .where('last_heartbeat_at', '<', now - silentForMs)
        .returningAll()
        .execute(),
    (r) => ({
      type: 'factory.expired',
      payload: { factoryId: r.id, lastHeartbeatAt: r.last_heartbeat_at, lost: r.lost === 1 },
    }),
  );
}

type FactoryRow = Selectable<FactoriesTable>;

/** Changes the factories `change` picks in one transaction, with one coordinator event (`event`) for each. */
async function sweepFactories(
  ctx: StoreContext,
  change: (trx: Trx, now: number) => Promise<FactoryRow[]>,
  event: (row: FactoryRow) => Pick<NewEvent, 'type' | 'payload'>,
): Promise<Factory[]> {
  const now = ctx.clock.now();
  const swept = await ctx.backend.writeTransaction(async (trx) => {
    const rows = await change(trx, now);
    const header = { jobId: null, epoch: null, actor: 'coordinator' as const };
    await appendEvents(
      trx,
      now,
      rows.map((r) => ({ ...header, product: r.product, ...event(r) }) as NewEvent),
    );
    return rows.map(toFactory);
  });
  if (swept.length > 0) ctx.emit({ kind: 'events' });
  return swept;
}
