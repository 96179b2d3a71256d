/** The steps a job runner drives, behind one interface so the runner is only about stages and leases. */
import type { ConveyorAccess } from '../agents/executor.js';
import type { JobView } from '../protocol/views.js';
import type { Subtask } from '../core/decomposition.js';
import { ConveyorError } from '../core/errors.js';
import type { FactoryEvent } from '../core/events.js';
import type { Checkpoint, JobResult } from '../core/job.js';

/** A step that did not succeed, with what the coordinator's retry policy needs. */
export interface StepFailure {
  code: string;
  message: string;
  /** False for deterministic failures (scope or deny violations): retrying cannot help. */
  retryable: boolean;
  result?: JobResult;
}

/**
 * Thrown by a step that cannot go on and must end the job with `failure` where it has no result to
 * return it in (a checkpoint refusing to commit a secret); the runner reports it as the job's failure.
 */
export class StepFailedError extends ConveyorError {
  readonly code: string;
  constructor(readonly failure: StepFailure) {
    super(failure.message);
    this.code = failure.code;
  }
}

export interface VerifyResult {
  command: string;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  outputTail: string;
  /** Whether the check met its expectation (exit code, and the output's text when one is expected). */
  passed: boolean;
  /** What the check expected, for people, when it is more than exit 0: `exit 1 and output containing "ok"`. */
  expected?: string;
}

/** What the build step may do besides running agents: the runner reports it all with the epoch. */
export interface BuildContext {
  /** Aborted on a fence, a cancellation or when the factory stops past its grace period. */
  signal: AbortSignal;
  log: (fields: Record<string, unknown>, message: string) => void;
  /** Records what the run observed (`llm.call`, `tool.call`, `pipeline.role`, …) as job events. */
  emit: (event: FactoryEvent) => void;
  /** Moves the job to `building` or `review` (nothing when it is there already). Throws when fenced. */
  stage: (stage: 'building' | 'review') => Promise<void>;
  /** Commits the work in progress and sends the checkpoint with the current stage. Throws when fenced. */
  checkpoint: () => Promise<void>;
  /** The job's allowed commands and the credential its agent uses for them (absent when it allows none). */
  conveyor?: ConveyorAccess;
}

export interface BuildResult {
  summary: string;
  failure?: StepFailure;
  result?: JobResult;
  /** The job cannot go on without a person's answer: it is reported `blocked` with this question. */
  blocked?: { question: string };
  /** The job is split into child jobs instead: the runner asks the coordinator and the run ends. */
  decompose?: { subtasks: Subtask[] };
}

export interface JobSteps<W = unknown> {
  /**
   * Materialises the workspace (mirror, worktree at the base or the checkpoint). `resumedFrom`: the
   * checkpoint's WIP commit the workspace holds; absent when it starts from the base (no checkpoint, or
   * its commit cannot be found here).
   */
  prepare(
    job: JobView,
    signal: AbortSignal,
  ): Promise<{ workspace: W; resumedFrom?: string } | { failure: StepFailure }>;
  /**
   * What an earlier run of the job already shipped (its commit on the target, its published branch), found
   * without shipping anything; `{}` when there is none. Asked before anything runs on a retried claim.
   */
  findShipped(job: JobView, workspace: W): Promise<{ ship?: JobResult } | { failure: StepFailure }>;
  /**
   * Sets the worktree up before anything runs in it (the job's `setup`, else the repository's
   * `.conveyor/setup.sh` from the base commit); `{}` when it succeeded or there is none. Its failure is permanent.
   */
  setup(
    job: JobView,
    workspace: W,
    signal: AbortSignal,
    emit: (event: FactoryEvent) => void,
  ): Promise<{ failure?: StepFailure }>;
  /**
   * Runs the agent (or the job's pipeline of roles), then checks the diff against the job's scope. A
   * pipeline moves the job between `building` and `review` and sends a checkpoint after each role
   * through `context`.
   */
  build(job: JobView, workspace: W, context: BuildContext): Promise<BuildResult>;
  /** Commits work in progress to the job branch (pushed when the repo is remote); may throw `StepFailedError`. */
  checkpoint(job: JobView, workspace: W): Promise<Checkpoint>;
  verify(
    job: JobView,
    workspace: W,
    signal: AbortSignal,
    emit: (event: FactoryEvent) => void,
  ): Promise<{ results: VerifyResult[]; failure?: StepFailure }>;
  /** Ships per policy; `beforePush` throws when the lease is no longer ours. */
  ship(
    job: JobView,
    workspace: W,
    beforePush: () => Promise<void>,
  ): Promise<{ ship: JobResult } | { failure: StepFailure }>;
  /** Removes the workspace; a quarantined one is always kept, a failed one when asked. */
  cleanup(workspace: W, disposition: 'done' | 'failed' | 'quarantined'): Promise<void>;
  /**
   * At start, before any claim: removes the workspaces left by an earlier process (killed with -9)
   * whose job `isLive` does not claim. Answers the job ids whose workspaces were removed.
   */
  sweep(isLive: (jobId: string) => Promise<boolean>): Promise<string[]>;
}
