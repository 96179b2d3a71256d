/** Work in progress: commit everything in the worktree, push it to the origin as a scratch ref. */
import { credentialEnv, type GitCredentials } from './credentials.js';
import { ensureSuccess, git, gitResult } from './git.js';
import { refuseSecrets, type SecretScanner } from './secret-scan.js';
import { inWorktree, wipRef, type Worktree } from './worktree.js';

export const JOB_TRAILER = 'Conveyor-Job';

/** `message` followed by the `Conveyor-Job: <jobId>` trailer. */
export function withJobTrailer(message: string, jobId: string): string {
  return `${message.trimEnd() || `Conveyor job ${jobId}`}\n\n${JOB_TRAILER}: ${jobId}\n`;
}

export interface WipCommit {
  /** HEAD after the call. */
  commit: string;
  /** False when there was nothing to commit (then `commit` is the old HEAD). */
  changed: boolean;
}

export interface CommitWipOptions {
  /**
   * Searches the changed files on disk first: one holding a secret throws `SecretInChangesError`
   * before anything reaches git. @default no search
   */
  secrets?: SecretScanner;
}

/** Commits every change in the worktree (new, changed and deleted files; ignored files stay out). */
export async function commitWip(wt: Worktree, message: string, options: CommitWipOptions = {}): Promise<WipCommit> {
  const at = inWorktree(wt);
  await refuseSecrets(wt, options.secrets);
  await git(['add', '--all'], at);
  const staged = await gitResult(['diff', '--cached', '--quiet'], at);
  const changed = staged.exitCode !== 0;
  if (changed) {
    // The agent's work is committed as it is: no hooks, no signing prompt.
    await git(['commit', '--quiet', '--no-verify', '--no-gpg-sign', '--file=-'], {
      ...at,
      input: withJobTrailer(message, wt.jobId),
    });
  }
  const commit = (await git(['rev-parse', 'HEAD'], at)).trim();
  return { commit, changed };
}

export interface PushWipOptions {
  /** Called right before the push; throw (e.g. when the lease is lost) to push nothing. */
  beforePush?: () => Promise<void>;
  /** What the origin asks a push for, given to git at push time only (`credentials.ts`). @default none */
  credentials?: GitCredentials | undefined;
}

/** Force-pushes the worktree's HEAD to the origin as `refs/conveyor/wip/<jobId>`; returns the commit pushed. */
export async function pushWip(wt: Worktree, options: PushWipOptions = {}): Promise<string> {
  const commit = (await git(['rev-parse', 'HEAD'], inWorktree(wt))).trim();
  await options.beforePush?.();
  await git(['push', '--quiet', '--force', 'origin', `${commit}:${wipRef(wt.jobId)}`], {
    cwd: wt.mirror,
    env: credentialEnv(options.credentials),
  });
  return commit;
}

/** Deletes the origin's `refs/conveyor/wip/<jobId>` (after shipping); no error when it is already gone. */
export async function deleteWip(wt: Worktree): Promise<void> {
  const args = ['push', '--quiet', 'origin', `:${wipRef(wt.jobId)}`];
  const result = await gitResult(args, { cwd: wt.mirror });
  if (!/remote ref does not exist/.test(result.stderr)) ensureSuccess(args, { cwd: wt.mirror }, result);
}
