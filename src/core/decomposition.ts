/**
 * Decomposition: a job whose work is split into child jobs (subtasks). Each child is a job of its
 * own, claimable by any factory, with its parent's id, its position `k/n` and the earlier siblings it
 * waits for (`after`). The parent waits in `building` without a lease; it ships when its last child
 * ships, and is blocked, naming the child and its reason, when a child stops for good.
 */
import { z } from 'zod';
import type { Job, JobError, JobResult } from './job.js';
import type { Stage } from './stages.js';

/** The most subtasks one job may be split into. */
export const MAX_SUBTASKS = 50;

/** One subtask as the architect returns it. */
export const SubtaskSchema = z.strictObject({
  title: z.string().trim().min(1).max(300),
  body: z.string().min(1, 'the subtask body must not be empty').max(200_000),
  /** 1-based positions of the earlier subtasks that must ship before this one may start. */
  after: z
    .array(z.int().min(1).max(MAX_SUBTASKS))
    .max(MAX_SUBTASKS - 1)
    .optional(),
  /** The pipeline the child runs. @default "solo" */
  pipeline: z.string().trim().min(1).max(200).optional(),
});
export type Subtask = z.infer<typeof SubtaskSchema>;

/**
 * 1 to 50 subtasks. `after` may name only earlier positions, each once, so the ordering has no
 * cycles by construction; every bad entry is reported with its path (`3.after.0`).
 */
export const SubtaskListSchema = z
  .array(SubtaskSchema)
  .min(1)
  .max(MAX_SUBTASKS)
  .superRefine((subtasks, ctx) => {
    subtasks.forEach((subtask, i) => {
      const position = i + 1;
      const seen = new Set<number>();
      (subtask.after ?? []).forEach((earlier, j) => {
        const path = [i, 'after', j];
        if (earlier >= position) {
          const message =
            position === 1
              ? 'the first subtask cannot wait for another (after must be empty)'
              : `must name an earlier subtask (1-${position - 1}): subtask ${position} cannot wait for ${earlier}`;
          ctx.addIssue({ code: 'custom', path, message });
        } else if (seen.has(earlier)) {
          ctx.addIssue({ code: 'custom', path, message: `names subtask ${earlier} twice` });
        }
        seen.add(earlier);
      });
    });
  });

/** The default pipeline of a child: one engineer pass. */
export const CHILD_PIPELINE = 'solo';

/** Stages in which a child has stopped for good until a human acts: its parent is blocked. */
export const CHILD_STOPPED_STAGES: readonly Stage[] = ['failed', 'dead_letter', 'cancelled', 'quarantined'];

/** `k/n`, or null for a job that is not a subtask. */
export function positionLabel(job: Pick<Job, 'position' | 'siblings'>): string | null {
  return job.position === null || job.siblings === null ? null : `${job.position}/${job.siblings}`;
}

/** What a parent's result says when its last child shipped: every child's result, and their commits. */
export function parentResult(children: readonly Job[]): JobResult {
  const commits = children.flatMap((c) => (typeof c.result?.commit === 'string' ? [c.result.commit] : []));
  return {
    summary: `all ${children.length} subtasks shipped`,
    commits,
    children: children.map((c) => ({ id: c.id, position: positionLabel(c), title: c.title, result: c.result })),
  };
}

const STOPPED_WORDS: Partial<Record<Stage, string>> = {
  dead_letter: 'was dead-lettered',
  cancelled: 'was cancelled',
  failed: 'failed',
  quarantined: 'was quarantined',
};

/**
 * The error a parent is blocked with when `child` stopped: names the child, its position and why
 * (`cause` when the move that stopped it knows, else the child's own error).
 */
export function stoppedChildError(child: Job, cause: string | undefined): JobError {
  const why = cause ?? child.error?.message ?? 'no reason recorded';
  const words = STOPPED_WORDS[child.stage] ?? `is ${child.stage}`;
  return {
    code: 'subtask_stopped',
    message: `subtask ${positionLabel(child) ?? '?'} ${child.id} "${child.title}" ${words}: ${why}. Retry the parent (or the subtask) to run it again.`,
    retryable: false,
  };
}
