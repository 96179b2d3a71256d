/** Named workspace errors. Each keeps the underlying failure as `cause` and says whether a retry may help. */
import { ConveyorError, type ErrorDetail } from '../core/errors.js';

interface WorkspaceErrorOptions {
  cause?: unknown;
  details?: ErrorDetail[];
}

export abstract class WorkspaceError extends ConveyorError {
  /** Whether running the job again (a later attempt) may succeed. */
  abstract readonly retryable: boolean;
}

/** A git command exited non-zero, timed out or could not be started. */
export class GitError extends WorkspaceError {
  readonly code = 'git_failed';
  readonly retryable = true;
  constructor(
    message: string,
    readonly args: readonly string[],
    readonly cwd: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly timedOut: boolean,
    options?: WorkspaceErrorOptions,
  ) {
    super(message, options);
  }
}

/** Bad input to the workspace: an unsafe job id, a base ref or resume commit that does not exist. */
export class WorkspaceInputError extends WorkspaceError {
  readonly code = 'workspace_input';
  readonly retryable = false;
}

/** The worktree has changes that are not committed; shipping now would silently drop them. */
export class UncommittedChangesError extends WorkspaceError {
  readonly code = 'uncommitted_changes';
  readonly retryable = false;
}

/** A failure about some files of the job's change, named in `files`. */
abstract class ChangedFilesError extends WorkspaceError {
  constructor(
    message: string,
    readonly files: string[],
    options?: WorkspaceErrorOptions,
  ) {
    super(message, options);
  }
}

/** The job's changes conflict with the target branch; the conflicted files are in `files`. */
export class MergeConflictError extends ChangedFilesError {
  readonly code = 'merge_conflict';
  readonly retryable = false;
}

/** The target branch is checked out in the user's local repository with uncommitted changes. */
export class TargetDirtyError extends WorkspaceError {
  readonly code = 'target_dirty';
  readonly retryable = true;
  constructor(
    message: string,
    readonly worktreePath: string,
    readonly files: string[],
    options?: WorkspaceErrorOptions,
  ) {
    super(message, options);
  }
}

/** The target kept moving under us: every attempt to update it was rejected as not a fast-forward. */
export class ShipContendedError extends WorkspaceError {
  readonly code = 'ship_contended';
  readonly retryable = true;
}

/** The branch a job fast-forwards (a review follow-up's) moved to a commit its work does not build on. */
export class BranchMovedError extends WorkspaceError {
  readonly code = 'branch_moved';
  readonly retryable = false;
}

/** A changed file holds a secret value: the change is never committed or shipped. Names the files, never the value. */
export class SecretInChangesError extends ChangedFilesError {
  readonly code = 'secret_in_diff';
  readonly retryable = false;
}
