/** The steps a job runner drives, behind one interface so the runner is only about stages and leases. */
import type { JobView } from '../coordinator/views.js';
import type { Checkpoint, FactoryEvent, JobResult } from '../core/job.js';

/** A step that did not succeed, with what the coordinator's retry policy needs. */
export interface StepFailure {
  code: string;
  message: string;
  /** False for deterministic failures (scope or deny violations): retrying cannot help. */
  retryable: boolean;
  result?: JobResult;
}

export interface VerifyResult {
  command: string;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  outputTail: string;
}

export interface JobSteps<W = unknown> {
  /** Materialises the workspace (mirror, worktree at the base or the checkpoint). */
  prepare(job: JobView, signal: AbortSignal): Promise<{ workspace: W } | { failure: StepFailure }>;
  /** Runs the agent, then checks the diff against the job's scope. */
  build(
    job: JobView,
    workspace: W,
    signal: AbortSignal,
    log: (fields: Record<string, unknown>, message: string) => void,
    /** Records what the agent did (`llm.call`, `tool.call`, …) as job events. */
    emit: (event: FactoryEvent) => void,
  ): Promise<{ summary: string; failure?: StepFailure; result?: JobResult }>;
  /** Commits work in progress to the job branch (pushed when the repo is remote). */
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
}
