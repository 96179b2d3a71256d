/**
 * Parents and their subtasks (decomposition): creating the children, and keeping the parent in step
 * with them inside the transaction that moves a child, so a parent can never miss its last child.
 *
 * Lock order (PostgreSQL): a child before its parent. A child's move locks the child, then settles the
 * parent; an action on a parent (cancel, retry, unblock) locks its children first, then the parent.
 */
import {
  CHILD_PIPELINE,
  CHILD_STOPPED_STAGES,
  parentResult,
  positionLabel,
  stoppedChildError,
  type Subtask,
} from '../core/decomposition.js';
import { IllegalTransitionError, ValidationError } from '../core/errors.js';
import type { JobSpec } from '../core/job.js';
import { allowedTargets, canTransition, type Stage } from '../core/stages.js';
import type { Backend } from './backend.js';
import { type JobRow, json, queuedJobRow, toJob } from './rows.js';
import type { JobsTable } from './schema.js';
import { appendEvents, newId, type Trx } from './store-context.js';
import type { JobMover, Transition } from './transition.js';

/** A job's children in position order; locked (PostgreSQL `FOR UPDATE`) when `backend` is given. */
export async function childRows(trx: Trx, product: string, parentId: string, backend?: Backend): Promise<JobRow[]> {
  let query = trx
    .selectFrom('jobs')
    .selectAll()
    .where('parent_id', '=', parentId)
    .where('product', '=', product)
    .orderBy('position');
  if (backend?.rowLocks === true) query = query.forUpdate();
  return query.execute();
}

/** A parent after `job.decomposed`: in `building` with no lease, waiting for its children. */
function isWaiting(parent: JobRow): boolean {
  return parent.stage === 'building' && parent.lease_factory === null;
}

/** The parts of the parent's spec its children run under (not its metadata, nor its pipeline). */
function inheritedSpec(spec: JobSpec, pipeline: string): JobSpec {
  const inherited: JobSpec = { pipeline };
  if (spec.agent !== undefined) inherited.agent = spec.agent;
  if (spec.verify !== undefined) inherited.verify = spec.verify;
  if (spec.ship !== undefined) inherited.ship = spec.ship;
  // What ships needs the approval the parent asked for: each part is approved before it merges.
  if (spec.approval !== undefined) inherited.approval = spec.approval;
  // The parent's limits bind its parts too.
  if (spec.scope !== undefined) inherited.scope = spec.scope;
  if (spec.constraints !== undefined) inherited.constraints = spec.constraints;
  if (spec.skills !== undefined) inherited.skills = spec.skills;
  return inherited;
}

/**
 * Creates the children of the locked, leased `parent` and ends its run: it stays in `building`
 * without a lease. Events: `job.decomposed` on the parent, then `job.created` per child.
 */
export async function insertChildren(
  trx: Trx,
  now: number,
  mover: JobMover,
  parent: JobRow,
  subtasks: readonly Subtask[],
): Promise<{ parent: JobRow; children: JobRow[] }> {
  if (parent.parent_id !== null) {
    const message = 'is a subtask itself: subtasks are not split again; do the work in this job';
    throw new ValidationError(`job ${parent.id} ${message} (its parent is ${parent.parent_id})`, {
      details: [{ path: 'params.id', message }],
    });
  }
  const spec = JSON.parse(parent.spec) as JobSpec;
  const siblings = subtasks.length;
  const rows: JobsTable[] = subtasks.map((subtask, i) =>
    queuedJobRow(now, {
      id: newId(now),
      product: parent.product,
      title: subtask.title,
      body: subtask.body,
      source: `job:${parent.id}#${i + 1}/${siblings}`,
      repo: parent.repo,
      base_ref: parent.base_ref,
      target_branch: parent.target_branch,
      required_capabilities: parent.required_capabilities,
      priority: parent.priority,
      max_attempts: parent.max_attempts,
      spec: json(inheritedSpec(spec, subtask.pipeline ?? CHILD_PIPELINE)),
      idempotency_key: null,
      parent_id: parent.id,
      position: i + 1,
      siblings,
      after_positions:
        subtask.after === undefined || subtask.after.length === 0
          ? null
          : json([...subtask.after].sort((a, b) => a - b)),
    }),
  );
  const children = (await trx.insertInto('jobs').values(rows).returningAll().execute()).sort(
    (a, b) => (a.position ?? 0) - (b.position ?? 0),
  );
  const views = children.map(toJob);
  const next = await mover.apply(trx, now, parent, {
    to: 'building',
    actor: 'factory',
    type: 'job.decomposed',
    payload: {
      children: views.map((c) => ({ id: c.id, position: positionLabel(c), title: c.title, after: c.after })),
    },
    runOutcome: 'decomposed',
    endsRun: true,
  });
  await appendEvents(
    trx,
    now,
    views.map((c) => ({
      product: c.product,
      jobId: c.id,
      epoch: 0,
      type: 'job.created',
      actor: 'coordinator',
      payload: {
        title: c.title,
        source: c.source,
        to: 'queued',
        parentId: parent.id,
        position: positionLabel(c),
        after: c.after,
      },
    })),
  );
  return { parent: next, children };
}

/** Applies a parent move after checking it against the stage table's parent moves. */
async function moveParent(trx: Trx, now: number, mover: JobMover, parent: JobRow, t: Transition): Promise<JobRow> {
  const from = parent.stage as Stage;
  if (!canTransition(from, t.to, t.actor, { parent: true })) {
    throw new IllegalTransitionError(parent.id, from, t.to, allowedTargets(from, t.actor, { parent: true }));
  }
  return mover.apply(trx, now, parent, t);
}

/** Why the move that stopped a child stopped it, when the child's own error would not say. */
function causeOf(transition: Transition): string | undefined {
  const payload = transition.payload ?? {};
  if (transition.type === 'lease.expired') {
    return `its lease expired on attempt ${String(payload.attempts)}/${String(payload.maxAttempts)}`;
  }
  if (transition.type === 'job.cancelled') {
    return typeof payload.reason === 'string' ? payload.reason : 'no reason given';
  }
  return undefined;
}

/**
 * Called in the transaction of every move that ends a subtask's life: the last child shipped ships the
 * waiting parent (actor coordinator, result listing the children's results); a child that stopped for
 * good blocks it, naming the child and the reason. A parent not waiting (already blocked, cancelled) is
 * left alone.
 */
export async function settleParent(
  trx: Trx,
  now: number,
  mover: JobMover,
  child: JobRow,
  transition: Transition,
): Promise<void> {
  if (child.parent_id === null) return;
  const parent = await mover.lock(trx, child.product, child.parent_id);
  if (!isWaiting(parent)) return;
  if (child.stage === 'shipped') {
    const siblings = await childRows(trx, parent.product, parent.id);
    if (siblings.some((s) => s.stage !== 'shipped')) return;
    await moveParent(trx, now, mover, parent, {
      to: 'shipped',
      actor: 'coordinator',
      type: 'job.subtasks_shipped',
      payload: { children: siblings.map((s) => s.id) },
      patch: { result: json(parentResult(siblings.map(toJob))) },
    });
    return;
  }
  if (!CHILD_STOPPED_STAGES.includes(child.stage as Stage)) return;
  const stopped = toJob(child);
  const error = stoppedChildError(stopped, causeOf(transition));
  await moveParent(trx, now, mover, parent, {
    to: 'blocked',
    actor: 'coordinator',
    type: 'job.subtask_stopped',
    payload: { child: { id: stopped.id, position: positionLabel(stopped), stage: stopped.stage }, error },
    patch: { error: json(error) },
  });
}

/**
 * Called when a human requeued a subtask (retry, unblock): a parent it had blocked waits again once no
 * other child is stopped.
 */
export async function childRequeued(trx: Trx, now: number, mover: JobMover, child: JobRow): Promise<void> {
  if (child.parent_id === null) return;
  const parent = await mover.lock(trx, child.product, child.parent_id);
  if (parent.stage !== 'blocked') return;
  const siblings = await childRows(trx, parent.product, parent.id);
  if (siblings.some((s) => CHILD_STOPPED_STAGES.includes(s.stage as Stage))) return;
  await moveParent(trx, now, mover, parent, {
    to: 'building',
    actor: 'human',
    type: 'job.resumed',
    payload: { requeued: [child.id] },
    patch: { error: null },
  });
}

/** Cancels the children of a just-cancelled parent that can still be cancelled. */
export async function cancelChildren(
  trx: Trx,
  now: number,
  mover: JobMover,
  parent: JobRow,
  children: readonly JobRow[],
  reason: string | undefined,
): Promise<void> {
  for (const child of children) {
    if (!canTransition(child.stage as Stage, 'cancelled', 'human')) continue;
    await mover.apply(trx, now, child, {
      to: 'cancelled',
      actor: 'human',
      type: 'job.cancelled',
      payload: { reason: `its parent ${parent.id} was cancelled${reason === undefined ? '' : `: ${reason}`}` },
      runOutcome: 'cancelled',
    });
  }
}

/**
 * A human's retry or answer for a parent (blocked by a child, or cancelled): the parent is not run
 * again. Its stopped children are requeued with fresh attempts and a new epoch, and it waits for them
 * again in `building`, under a new epoch of its own (a new life: a cancelled parent's life had ended).
 * `plain` is the move a job without children would have made, named in a 422.
 */
export async function resumeParent(
  trx: Trx,
  now: number,
  mover: JobMover,
  parent: JobRow,
  children: readonly JobRow[],
  plain: Transition,
  extra: { payload?: Record<string, unknown>; clarifications?: string | undefined } = {},
): Promise<JobRow> {
  const from = parent.stage as Stage;
  if (!canTransition(from, 'building', 'human', { parent: true })) {
    throw new IllegalTransitionError(parent.id, from, plain.to, allowedTargets(from, 'human', { parent: true }));
  }
  const requeued: string[] = [];
  for (const child of children) {
    if (!CHILD_STOPPED_STAGES.includes(child.stage as Stage)) continue;
    await mover.apply(trx, now, child, {
      to: 'queued',
      actor: 'human',
      type: 'job.retried',
      payload: { parentId: parent.id },
      patch: { attempts: 0, run_after: now, error: null, lease_epoch: child.lease_epoch + 1 },
    });
    requeued.push(child.id);
  }
  let next = await moveParent(trx, now, mover, parent, {
    to: 'building',
    actor: 'human',
    type: 'job.resumed',
    payload: { ...extra.payload, requeued },
    patch: {
      error: null,
      lease_epoch: parent.lease_epoch + 1,
      ...(extra.clarifications === undefined ? {} : { clarifications: extra.clarifications }),
    },
  });
  if (children.every((c) => c.stage === 'shipped')) {
    next = await moveParent(trx, now, mover, next, {
      to: 'shipped',
      actor: 'coordinator',
      type: 'job.subtasks_shipped',
      payload: { children: children.map((c) => c.id) },
      patch: { result: json(parentResult(children.map(toJob))) },
    });
  }
  return next;
}
