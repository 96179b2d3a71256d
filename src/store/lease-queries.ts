/**
 * A lease's life: the claim that grants it, then its holder's writes (stage reports, renew, release,
 * events, decomposition), each fenced by the lease epoch and the holder: a stale epoch, or the right
 * epoch from a factory that does not hold the lease, throws `FencedError` and leaves a `fence.rejected`
 * event naming both factories. The claim is the backend's fast path (`Backend.fastPaths`); reports and
 * renew try theirs first, and the transactional path here is the reference they must match (and what
 * names the error when their guard does not pass).
 *
 * The hottest code in the coordinator: keep the round trips of these paths as they are.
 */
import { FencedError, IllegalTransitionError } from '../core/errors.js';
import type { ReportedEvent } from '../core/events.js';
import type { Checkpoint, Job, JobSpec } from '../core/job.js';
import {
  ACTIVE_STAGES,
  FACTORY_REPORTABLE_STAGES,
  allowedSources,
  allowedTargets,
  isActive,
  isTerminal,
  type Stage,
} from '../core/stages.js';
import * as family from './family-queries.js';
import { type JobRow, json, toJob } from './rows.js';
import { appendEvents, type NewEvent, type StoreContext, type Trx } from './store-context.js';
import {
  assertTransition,
  countAttempt,
  type JobPatch,
  jobEvent,
  requeueOrDeadLetter,
  updateJob,
} from './transition.js';
import type {
  ApprovalRequest,
  Claim,
  ClaimRequest,
  DecomposeRequest,
  Decomposition,
  LeaseFence,
  RetryPolicy,
  StageReport,
  StoreSignal,
} from './store.js';

/**
 * Up to `maxJobs` claimable jobs for one factory, each with its own lease, epoch and run, in claim
 * order (highest priority, then oldest), all in one transaction (the backend's `fastPaths.claim`).
 */
export async function claimJobs(ctx: StoreContext, request: ClaimRequest, maxJobs: number): Promise<Claim[]> {
  const now = ctx.clock.now();
  const expiresAt = now + request.leaseTtlMs;
  const rows = await ctx.backend.fastPaths.claim({ ...request, now, expiresAt, limit: maxJobs });
  if (rows.length > 0) ctx.emit({ kind: 'events' });
  return rows.map((row) => ({ job: toJob(row), leaseEpoch: row.lease_epoch, leaseExpiresAt: expiresAt }));
}

export async function reportStage(ctx: StoreContext, report: StageReport, policy: RetryPolicy): Promise<Job> {
  const fast = ctx.backend.fastPaths;
  const reportable = FACTORY_REPORTABLE_STAGES.includes(report.stage);
  // A retryable failure's outcome depends on the attempts left; everything else on the stage guard alone.
  const finalFailure = report.stage === 'failed' && report.error?.retryable === false;
  if (reportable && (report.stage !== 'failed' || finalFailure)) {
    const to = report.stage;
    const allowedFrom = [...allowedSources(to, 'factory'), ...(isActive(to) ? [to] : [])].filter(isActive);
    const row = await fast.move({
      ...report,
      now: ctx.clock.now(),
      to,
      allowedFrom,
      endsRun: !isActive(to),
      endsJob: isTerminal(to),
      countAttempt: to === 'failed',
      payload: to === 'failed' ? { error: report.error ?? null } : {},
    });
    if (row !== undefined) {
      ctx.emit({ kind: 'events' });
      return toJob(row);
    }
    // The guard did not pass: the shared path below names the reason (or wins a race legitimately).
  }
  const { job, signals } = await fencedWrite(ctx, report, async (trx, row, now) => {
    const patch: JobPatch = {};
    if (report.checkpoint !== undefined) patch.checkpoint = json(report.checkpoint);
    if (report.result !== undefined) patch.result = json(report.result);
    if (report.error !== undefined) patch.error = json(report.error);
    const events: NewEvent[] = [];
    if (report.checkpoint !== undefined) {
      events.push(jobEvent(row, 'checkpoint.saved', 'factory', { ...report.checkpoint, stage: row.stage }));
    }
    if (!reportable) {
      // A factory never reports these (not even as its current stage, which would be a checkpoint).
      const from = row.stage as Stage;
      throw new IllegalTransitionError(row.id, from, report.stage, allowedTargets(from, 'factory'));
    }
    if (report.stage === row.stage) {
      await appendEvents(trx, now, events);
      return updateJob(trx, now, row, patch);
    }
    assertTransition(row, report.stage, 'factory');
    await appendEvents(trx, now, events);
    if (report.stage !== 'failed') {
      const next = await ctx.mover.apply(trx, now, row, {
        to: report.stage,
        actor: 'factory',
        type: 'stage.changed',
        patch,
        runOutcome: report.stage,
      });
      return next;
    }
    const retryable = report.error?.retryable !== false;
    const failed = await ctx.mover.apply(trx, now, row, {
      to: 'failed',
      actor: 'factory',
      type: 'stage.changed',
      payload: { error: report.error ?? null },
      patch: { ...patch, attempts: countAttempt(row) },
      runOutcome: 'failed',
      // A retryable failure is not the end of the job: the coordinator's policy decides next.
      endsJob: !retryable,
    });
    if (!retryable) return failed;
    return requeueOrDeadLetter(ctx.mover, trx, now, failed, policy, {
      type: 'job.retry_scheduled',
      attempts: failed.attempts,
    });
  });
  ctx.emit(...signals);
  return job;
}

export async function renew(ctx: StoreContext, fence: LeaseFence, leaseTtlMs: number): Promise<number> {
  const now = ctx.clock.now();
  const renewed = await ctx.backend.fastPaths.renew({
    ...fence,
    now,
    expiresAt: now + leaseTtlMs,
    activeStages: ACTIVE_STAGES,
  });
  if (renewed !== undefined) {
    ctx.emit({ kind: 'events' });
    return now + leaseTtlMs;
  }
  const { job } = await fencedWrite(ctx, fence, async (trx, row, now) => {
    const next = await updateJob(trx, now, row, { lease_expires_at: now + leaseTtlMs });
    await appendEvents(trx, now, [jobEvent(row, 'lease.renewed', 'factory', { leaseExpiresAt: now + leaseTtlMs })]);
    return next;
  });
  return job.lease?.expiresAt ?? 0;
}

export async function release(ctx: StoreContext, fence: LeaseFence): Promise<Job> {
  const { job, signals } = await fencedWrite(ctx, fence, (trx, row, now) =>
    ctx.mover.apply(trx, now, row, {
      to: 'queued',
      actor: 'coordinator',
      type: 'lease.released',
      runOutcome: 'released',
      patch: { run_after: now },
    }),
  );
  ctx.emit(...signals);
  return job;
}

export async function recordEvents(
  ctx: StoreContext,
  fence: LeaseFence,
  events: readonly ReportedEvent[],
): Promise<void> {
  const { signals } = await fencedWrite(ctx, fence, async (trx, row, now) => {
    await appendEvents(
      trx,
      now,
      events.map((event) => jobEvent(row, event.type, 'factory', event.payload)),
    );
    return row;
  });
  ctx.emit(...signals);
}

/**
 * The lease holder's verified work waits for a person: a job with `approval: required` moves from
 * `testing` to `review` with its checkpoint marked `awaiting` (the commit to approve), and its run ends.
 */
export async function requestApproval(ctx: StoreContext, request: ApprovalRequest): Promise<Job> {
  const { job, signals } = await fencedWrite(ctx, request, (trx, row, now) => {
    const spec = JSON.parse(row.spec) as JobSpec;
    // Only a job that asked for approval, verified (in testing), may wait for it: 422 naming the moves
    // a factory has otherwise.
    const from = row.stage as Stage;
    if (spec.approval !== 'required' || from !== 'testing') {
      throw new IllegalTransitionError(row.id, from, 'review', allowedTargets(from, 'factory'));
    }
    assertTransition(row, 'review', 'factory', { approval: true });
    const commit = request.checkpoint.wipCommit;
    const checkpoint: Checkpoint = { ...request.checkpoint, approval: { state: 'awaiting', commit } };
    return ctx.mover.apply(trx, now, row, {
      to: 'review',
      actor: 'factory',
      type: 'job.approval_requested',
      payload: { commit },
      patch: {
        checkpoint: json(checkpoint),
        ...(request.result === undefined ? {} : { result: json(request.result) }),
      },
      runOutcome: 'awaiting_approval',
      endsRun: true,
    });
  });
  ctx.emit(...signals);
  return job;
}

/** The lease holder splits its job into subtasks (`family-queries.ts`); asking again returns the same set. */
export async function decompose(ctx: StoreContext, request: DecomposeRequest): Promise<Decomposition> {
  const now = ctx.clock.now();
  const { product, jobId } = request;
  try {
    const done = await ctx.backend.writeTransaction(async (trx) => {
      const parent = await ctx.mover.lock(trx, product, jobId);
      const existing = await family.childRows(trx, product, jobId);
      // The same run asking again (its answer was lost): the children it made, not a second set.
      if (existing.length > 0 && parent.lease_epoch === request.leaseEpoch) {
        const run = await trx
          .selectFrom('runs')
          .select('factory_id')
          .where('job_id', '=', jobId)
          .where('epoch', '=', request.leaseEpoch)
          .executeTakeFirst();
        if (run?.factory_id === request.factoryId) return { parent, children: existing, created: false };
      }
      assertFence(parent, request, now);
      return { ...(await family.insertChildren(trx, now, ctx.mover, parent, request.subtasks)), created: true };
    });
    if (done.created) ctx.emit({ kind: 'events' }, { kind: 'jobs', product });
    return { parent: toJob(done.parent), children: done.children.map(toJob), created: done.created };
  } catch (error) {
    if (error instanceof FencedError) await recordFence(ctx, product, error);
    throw error;
  }
}

/**
 * Runs `write` on the job row locked in a transaction, after checking that `fence` (epoch and
 * factory) holds the job's lease now. A stale epoch throws `FencedError` and records a `fence.rejected` event.
 */
async function fencedWrite(
  ctx: StoreContext,
  fence: LeaseFence,
  write: (trx: Trx, row: JobRow, now: number) => Promise<Job | JobRow>,
): Promise<{ job: Job; signals: StoreSignal[] }> {
  const now = ctx.clock.now();
  const { product } = fence;
  try {
    const row = await ctx.backend.writeTransaction(async (trx) => {
      const locked = await ctx.mover.lock(trx, product, fence.jobId);
      assertFence(locked, fence, now);
      return write(trx, locked, now);
    });
    const job = 'lease' in row ? row : toJob(row);
    const signals: StoreSignal[] = [{ kind: 'events' }];
    // A subtask that ships may let a sibling waiting for it be claimed.
    if (job.stage === 'queued' || job.parentId !== null) signals.push({ kind: 'jobs', product });
    return { job, signals };
  } catch (error) {
    if (error instanceof FencedError) await recordFence(ctx, product, error);
    throw error;
  }
}

/** Leaves the `fence.rejected` event of a refused write, naming the writer and the lease's holder. */
export async function recordFence(ctx: StoreContext, product: string, error: FencedError): Promise<void> {
  await ctx.backend.writeTransaction((trx) =>
    appendEvents(trx, ctx.clock.now(), [
      {
        product,
        jobId: error.jobId,
        epoch: error.sentEpoch,
        type: 'fence.rejected',
        actor: 'coordinator',
        payload: {
          sentEpoch: error.sentEpoch,
          currentEpoch: error.currentEpoch,
          factoryId: error.factories.writer,
          holderFactoryId: error.factories.holder,
          reason: error.message,
        },
      },
    ]),
  );
  ctx.emit({ kind: 'events' });
}

/** Throws `FencedError` unless `fence` holds the job's lease now: its epoch, its factory, unexpired. */
function assertFence(row: JobRow, fence: LeaseFence, now: number): void {
  const reason = fenceViolation(row, fence, now);
  if (reason === undefined) return;
  throw new FencedError(fence.jobId, fence.leaseEpoch, row.lease_epoch, reason, {
    writer: fence.factoryId,
    holder: row.lease_factory,
  });
}

function fenceViolation(row: JobRow, fence: LeaseFence, now: number): string | undefined {
  if (row.lease_epoch !== fence.leaseEpoch) return `the job was claimed again under epoch ${row.lease_epoch}`;
  if (!isActive(row.stage as Stage) || row.lease_factory === null) return `the job is ${row.stage} and holds no lease`;
  // The right epoch is not enough: anyone in the product can read it (`GET /api/fleet/jobs/:id`).
  if (row.lease_factory !== fence.factoryId) return `the lease is held by factory ${row.lease_factory}`;
  if (row.lease_expires_at === null || row.lease_expires_at <= now) return 'the lease expired';
  return undefined;
}
