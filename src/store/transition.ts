/**
 * The one place a job changes stage: locking its row, checking the move against the stage table, and
 * applying it (the job row, the run it ends, the event that describes it, and a subtask's parent). Every
 * query module moves jobs through here, by the `JobMover` in its `StoreContext`.
 */
import { IllegalTransitionError, NotFoundError } from '../core/errors.js';
import type { EventType } from '../core/events.js';
import {
  type Actor,
  allowedTargets,
  canTransition,
  isActive,
  isTerminal,
  type Stage,
  type TransitionOptions,
} from '../core/stages.js';
import type { Backend } from './backend.js';
import * as family from './family-queries.js';
import type { JobRow } from './rows.js';
import type { JobsTable } from './schema.js';
import { appendEvents, composedEvent, type NewEvent, type Trx } from './store-context.js';
import type { RetryPolicy } from './store.js';

export type JobPatch = Partial<Omit<JobsTable, 'id' | 'product' | 'created_at'>>;

/** One stage change to apply to a locked job row: the patch, the event, and what it ends. */
export interface Transition {
  to: Stage;
  actor: Actor;
  type: EventType;
  payload?: Record<string, unknown>;
  patch?: JobPatch | undefined;
  /** Outcome recorded on the run the transition ends, if the job held a lease. */
  runOutcome?: string | undefined;
  /** Overrides whether this event ends the job's life (default: the target stage is terminal). */
  endsJob?: boolean;
  /**
   * Overrides whether this transition ends the run and clears the lease (default: the job leaves the
   * active stages while it holds a lease). A decomposed parent stays in `building` with its run ended.
   */
  endsRun?: boolean;
}

/** How the query modules lock and move jobs, the one they were asked about and others (a parent). */
export interface JobMover {
  /** The job row, locked for this transaction (PostgreSQL `FOR UPDATE`); 404 when absent. */
  lock(trx: Trx, product: string, jobId: string): Promise<JobRow>;
  /** Applies `transition` to a locked row with its event (and settles a subtask's parent). */
  apply(trx: Trx, now: number, row: JobRow, transition: Transition): Promise<JobRow>;
}

/** The mover over `backend`'s locks; one per store. */
export function jobMover(backend: Backend): JobMover {
  const mover: JobMover = {
    lock: (trx, product, jobId) => lockJob(backend, trx, product, jobId),
    apply: (trx, now, row, transition) => applyTransition(mover, trx, now, row, transition),
  };
  return mover;
}

async function lockJob(backend: Backend, trx: Trx, product: string, jobId: string): Promise<JobRow> {
  let query = trx.selectFrom('jobs').selectAll().where('id', '=', jobId).where('product', '=', product);
  if (backend.rowLocks) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (row === undefined) throw new NotFoundError(`no job ${jobId} in product ${product}`);
  return row;
}

/** Throws the 422 naming the moves `actor` may make from the row's stage, unless `to` is one of them. */
export function assertTransition(row: JobRow, to: Stage, actor: Actor, options: TransitionOptions = {}): void {
  const from = row.stage as Stage;
  if (!canTransition(from, to, actor, options)) {
    throw new IllegalTransitionError(row.id, from, to, allowedTargets(from, actor, options));
  }
}

/**
 * Moves a locked row to `transition.to`: updates the job, ends the current run when the job leaves
 * an active stage, and appends the event, flagged as the run's and the job life's only terminal one.
 */
async function applyTransition(
  mover: JobMover,
  trx: Trx,
  now: number,
  row: JobRow,
  transition: Transition,
): Promise<JobRow> {
  const from = row.stage as Stage;
  // A parent waiting on its children is active without a lease: its run ended when it was decomposed.
  const leavesLease = transition.endsRun ?? (isActive(from) && !isActive(transition.to) && row.lease_factory !== null);
  const endsJob = transition.endsJob ?? isTerminal(transition.to);
  const patch: JobPatch = { ...transition.patch, stage: transition.to };
  if (leavesLease) {
    patch.lease_factory = null;
    patch.lease_expires_at = null;
    await trx
      .updateTable('runs')
      .set({ ended_at: now, outcome: transition.runOutcome ?? transition.to })
      .where('job_id', '=', row.id)
      .where('epoch', '=', row.lease_epoch)
      .execute();
  }
  const next = await updateJob(trx, now, row, patch);
  await appendEvents(trx, now, [
    {
      ...jobEvent(row, transition.type, transition.actor, { from, to: transition.to, ...transition.payload }),
      // The event belongs to the epoch it ends (the old lease), or the new one it starts.
      epoch: leavesLease ? row.lease_epoch : next.lease_epoch,
      endsRun: leavesLease,
      endsJob,
    },
  ]);
  // The end of a subtask's life settles its parent in this same transaction (family-queries.ts).
  if (next.parent_id !== null && endsJob) await family.settleParent(trx, now, mover, next, transition);
  return next;
}

/** Writes `patch` to the job without changing its stage's bookkeeping (see `JobMover.apply` for that). */
export async function updateJob(trx: Trx, now: number, row: JobRow, patch: JobPatch): Promise<JobRow> {
  return trx
    .updateTable('jobs')
    .set({ ...patch, updated_at: now })
    .where('id', '=', row.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** An event about the job `row`, under its current epoch (checked against the catalogue: `composedEvent`). */
export function jobEvent(row: JobRow, type: string, actor: Actor, payload: Record<string, unknown>): NewEvent {
  return composedEvent({ product: row.product, jobId: row.id, epoch: row.lease_epoch, actor }, type, payload);
}

/** The job's attempts after a failed or expired run: one more, never past the maximum (a reconcile-only claim is free). */
export function countAttempt(row: JobRow): number {
  return Math.min(row.attempts + 1, row.max_attempts);
}

/** What a failed or expired run leaves to the retry policy. */
export interface RetryPlan {
  type: 'job.retry_scheduled' | 'lease.expired';
  attempts: number;
  patch?: JobPatch;
  payload?: Record<string, unknown>;
  runOutcome?: string;
  /**
   * The run may have shipped before it was lost: with its attempts spent, the job is not dead-lettered
   * blind but queued once more for a reconcile-only claim (`isReconcileOnly`), due at once.
   */
  mayHaveShipped?: boolean;
}

/** After a failed or expired run: back to the queue after a backoff, or dead-lettered. */
export function requeueOrDeadLetter(
  mover: JobMover,
  trx: Trx,
  now: number,
  row: JobRow,
  policy: RetryPolicy,
  plan: RetryPlan,
): Promise<JobRow> {
  const counts = { attempts: plan.attempts, maxAttempts: row.max_attempts };
  if (plan.attempts >= row.max_attempts && plan.mayHaveShipped === true) {
    return mover.apply(trx, now, row, {
      to: 'queued',
      actor: 'coordinator',
      type: plan.type,
      payload: { ...plan.payload, ...counts, runAfter: now, reconcile: true },
      patch: { ...plan.patch, run_after: now },
      runOutcome: plan.runOutcome,
    });
  }
  if (plan.attempts >= row.max_attempts) {
    return mover.apply(trx, now, row, {
      to: 'dead_letter',
      actor: 'coordinator',
      type: plan.type,
      payload: { ...plan.payload, ...counts },
      patch: plan.patch,
      runOutcome: plan.runOutcome,
    });
  }
  const runAfter = now + policy.backoffMs(plan.attempts);
  return mover.apply(trx, now, row, {
    to: 'queued',
    actor: 'coordinator',
    type: plan.type,
    payload: { ...plan.payload, ...counts, runAfter },
    patch: { ...plan.patch, run_after: runAfter },
    runOutcome: plan.runOutcome,
  });
}
