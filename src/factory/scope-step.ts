/**
 * What every build's change is checked for before it counts: no secret in a changed file (read from
 * disk before git hashes it), and the job's scope rules; the diff goes into the result.
 */
import type { JobView } from '../protocol/views.js';
import type { JobResult } from '../core/job.js';
import {
  checkScope,
  diffStats,
  type DiffStats,
  refuseSecrets,
  SecretInChangesError,
  type SecretScanner,
  type Worktree,
} from '../workspace/index.js';
import type { BuildResult, StepFailure } from './steps.js';

export function secretFailure(error: SecretInChangesError): StepFailure {
  return { code: error.code, message: error.message, retryable: false };
}

/** The change as the job result shows it: the files, its size, and the unified diff (cut at 64 KiB). */
function diffOf(stats: DiffStats): JobResult {
  return { files: stats.files, bytes: stats.bytes, patch: stats.patch, truncated: stats.patchTruncated };
}

/** The failure when a changed file holds a secret; checked before `diffStats` hashes the files. */
async function secretsIn(worktree: Worktree, secrets: SecretScanner | undefined): Promise<StepFailure | undefined> {
  try {
    await refuseSecrets(worktree, secrets);
    return undefined;
  } catch (error) {
    if (error instanceof SecretInChangesError) return secretFailure(error);
    throw error;
  }
}

export /**
 * Adds the diff to a successful build, and fails it when a changed file holds a secret or the diff
 * breaks the job's scope rules.
 */
async function withScope(
  job: JobView,
  worktree: Worktree,
  built: BuildResult,
  secrets: SecretScanner | undefined,
): Promise<BuildResult> {
  const leak = await secretsIn(worktree, secrets);
  if (leak !== undefined) return { ...built, failure: leak };
  const stats = await diffStats(worktree);
  const withDiff = { ...built, result: { ...built.result, diff: diffOf(stats) } };
  const violation = checkScope(stats, job.scope ?? {}, job.constraints ?? {});
  if (violation === undefined) return withDiff;
  return { ...withDiff, failure: { code: `scope_${violation.rule}`, message: violation.message, retryable: false } };
}
