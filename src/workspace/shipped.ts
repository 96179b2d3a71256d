/** Finds the commit on a branch that already carries a job's `Conveyor-Job` trailer. */
import { git } from './git.js';
import { JOB_TRAILER } from './wip.js';

/**
 * The newest commit reachable from `tip` whose `Conveyor-Job` trailer is exactly `jobId`, or undefined.
 * Walks the whole history on purpose: a rerun may start from a base that already contains the shipped commit.
 */
export async function findShippedCommit(cwd: string, tip: string, jobId: string): Promise<string | undefined> {
  const out = await git(
    [
      'log',
      '--fixed-strings',
      `--grep=${JOB_TRAILER}: ${jobId}`,
      `--format=%H%x00%(trailers:key=${JOB_TRAILER},valueonly,separator=%x00)%x1e`,
      tip,
      '--',
    ],
    { cwd },
  );
  for (const record of out.split('\x1e')) {
    const [commit, ...values] = record.trim().split('\0');
    if (commit !== undefined && commit !== '' && values.some((value) => value.trim() === jobId)) return commit;
  }
  return undefined;
}
