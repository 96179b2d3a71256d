/**
 * What a human does to a job: cancel it, retry it, answer the question it is blocked on, approve or
 * reject the verified work it waits with. On a parent these act on its subtasks too
 * (`family-queries.ts`). Triage of quarantined results is in `quarantine-queries.ts`.
 */
import { NotAwaitingApprovalError } from '../core/errors.js';
import {
  APPROVED_STEPS,
  type Checkpoint,
  type Clarification,
  isAwaitingApproval,
  type Job,
  type JobError,
} from '../core/job.js';
import { isActive, type Stage } from '../core/stages.js';
import * as family from './family-queries.js';
import { type JobRow, json, toJob } from './rows.js';
import type { StoreContext, Trx } from './store-context.js';
import type { Rejection } from './store.js';
import { assertTransition, type Transition } from './transition.js';

export async function cancel(
  ctx: StoreContext,
  product: string,
  jobId: string,
  reason: string | undefined,
): Promise<Job> {
  return humanAction(
    ctx,
    product,
    jobId,
    () => ({
      to: 'cancelled',
      actor: 'human',
      type: 'job.cancelled',
      payload: { reason: reason ?? null },
      runOutcome: 'cancelled',
    }),
    async (trx, now, parent, children, plain) => {
      assertTransition(parent, plain.to, 'human');
      const next = await ctx.mover.apply(trx, now, parent, plain);
      await family.cancelChildren(trx, now, ctx.mover, parent, children, reason);
      return next;
    },
  );
}

export async function retry(ctx: StoreContext, product: string, jobId: string): Promise<Job> {
  return humanAction(
    ctx,
    product,
    jobId,
    (row, now) => ({
      to: 'queued',
      actor: 'human',
      type: 'job.retried',
      // A new life for the job: fresh attempts, and a new epoch so nothing from before can write.
      patch: { attempts: 0, run_after: now, error: null, lease_epoch: row.lease_epoch + 1 },
    }),
    (trx, now, parent, children, plain) => family.resumeParent(trx, now, ctx.mover, parent, children, plain),
  );
}

export async function unblock(ctx: StoreContext, product: string, jobId: string, answer: string): Promise<Job> {
  const clarify = (row: JobRow, now: number) => {
    const question = row.error === null ? '' : (JSON.parse(row.error) as JobError).message;
    const clarifications = [...(JSON.parse(row.clarifications) as Clarification[])];
    clarifications.push({ question, answer, answeredAt: now });
    return { question, clarifications: json(clarifications) };
  };
  return humanAction(
    ctx,
    product,
    jobId,
    (row, now) => {
      const { question, clarifications } = clarify(row, now);
      return {
        to: 'queued',
        actor: 'human',
        type: 'job.unblocked',
        payload: { question, answer },
        patch: { clarifications, error: null, run_after: now },
      };
    },
    (trx, now, parent, children, plain) => {
      const { question, clarifications } = clarify(parent, now);
      return family.resumeParent(trx, now, ctx.mover, parent, children, plain, {
        payload: { question, answer },
        clarifications,
      });
    },
  );
}

/** The checkpoint of a job waiting for approval; 409 for any other job. */
function awaitedCheckpoint(row: JobRow): Checkpoint & { approval: NonNullable<Checkpoint['approval']> } {
  const job = toJob(row);
  const checkpoint = job.checkpoint;
  if (!isAwaitingApproval(job) || checkpoint?.approval === undefined) {
    throw new NotAwaitingApprovalError(row.id, job.stage);
  }
  return { ...checkpoint, approval: checkpoint.approval };
}

/** No parent waits for approval (its subtasks ship it): the check in `plan` answers 409 first. */
const notForParents = (_trx: Trx, _now: number, parent: JobRow): never => {
  throw new NotAwaitingApprovalError(parent.id, parent.stage as Stage);
};

export async function approve(ctx: StoreContext, product: string, jobId: string): Promise<Job> {
  return humanAction(
    ctx,
    product,
    jobId,
    (row, now) => {
      const checkpoint = awaitedCheckpoint(row);
      const { commit } = checkpoint.approval;
      const finished = [...new Set([...(checkpoint.finished ?? []), ...APPROVED_STEPS])];
      return {
        to: 'queued',
        actor: 'human',
        type: 'job.approved',
        payload: { commit },
        patch: {
          checkpoint: json({ ...checkpoint, finished, approval: { state: 'approved', commit } }),
          run_after: now,
        },
        approval: true,
      };
    },
    notForParents,
  );
}

/** What the agent is asked when its change comes back: the reviewer's reason is the answer. */
const REJECTED_QUESTION = (commit: string): string =>
  `Your change (commit ${commit.slice(0, 12)}) passed verify but was rejected by a reviewer before merge. What must change?`;

export async function reject(ctx: StoreContext, product: string, jobId: string, rejection: Rejection): Promise<Job> {
  return humanAction(
    ctx,
    product,
    jobId,
    (row, now) => {
      const { approval, finished: _redo, ...work } = awaitedCheckpoint(row);
      const payload = { commit: approval.commit, reason: rejection.reason, action: rejection.action };
      if (rejection.action === 'fail') {
        const error: JobError = { code: 'rejected', message: `rejected: ${rejection.reason}`, retryable: false };
        return {
          to: 'failed',
          actor: 'human',
          type: 'job.rejected',
          payload,
          patch: { error: json(error) },
          approval: true,
        };
      }
      // Back to the agent: the work resumes from the rejected commit, its steps run again on it, and
      // the reason reaches the prompt as a clarification (as an answer to a blocked job's question does).
      const clarifications = [...(JSON.parse(row.clarifications) as Clarification[])];
      clarifications.push({ question: REJECTED_QUESTION(approval.commit), answer: rejection.reason, answeredAt: now });
      return {
        to: 'queued',
        actor: 'human',
        type: 'job.rejected',
        payload,
        patch: { checkpoint: json(work), clarifications: json(clarifications), error: null, run_after: now },
        approval: true,
      };
    },
    notForParents,
  );
}

/**
 * A human's move of one job in one transaction. `plan` is the move of a job without children; a
 * parent's children are locked first (see `family-queries.ts` on lock order) and `forParent` decides.
 * Requeueing a subtask may put the parent it blocked back to waiting.
 */
async function humanAction(
  ctx: StoreContext,
  product: string,
  jobId: string,
  plan: (row: JobRow, now: number) => Transition & { approval?: boolean },
  forParent: (trx: Trx, now: number, parent: JobRow, children: JobRow[], plain: Transition) => Promise<JobRow>,
): Promise<Job> {
  const now = ctx.clock.now();
  const row = await ctx.backend.writeTransaction(async (trx) => {
    let children = await family.childRows(trx, product, jobId, ctx.backend);
    const locked = await ctx.mover.lock(trx, product, jobId);
    // Children appear once, when the lease holder splits the job; that may have committed while we
    // waited for the job's lock (they are new: nothing else holds them long).
    if (children.length === 0 && isActive(locked.stage as Stage) && locked.lease_factory === null) {
      children = await family.childRows(trx, product, jobId, ctx.backend);
    }
    const { approval, ...transition } = plan(locked, now);
    if (children.length > 0) return forParent(trx, now, locked, children, transition);
    assertTransition(locked, transition.to, 'human', { approval: approval === true });
    const next = await ctx.mover.apply(trx, now, locked, transition);
    if (next.parent_id !== null && next.stage === 'queued') await family.childRequeued(trx, now, ctx.mover, next);
    return next;
  });
  // Queued jobs (or, for a parent, its children) may be claimable now.
  ctx.emit({ kind: 'events' }, { kind: 'jobs', product });
  return toJob(row);
}
