/**
 * Shipping a job's committed work per policy, at most once: `none` keeps it on this machine, `branch`
 * publishes the job branch, `merge` squash-merges it into the target branch (see `ship-merge.ts`).
 */
import type { ShipPolicy } from '../core/job.js';
import { ensureSuccess, git, gitResult } from './git.js';
import { defaultLocks, type PathLocks } from './locks.js';
import { defaultBranch } from './mirror.js';
import { locateRepo } from './repo.js';
import { findMerged, shipMerge } from './ship-merge.js';
import { inWorktree, type Worktree } from './worktree.js';
import { BranchMovedError, UncommittedChangesError, WorkspaceInputError } from './errors.js';
import { refuseSecrets, type SecretScanner } from './secret-scan.js';
import { credentialEnv, type GitCredentials } from './credentials.js';

export type WorkspaceShipPolicy = Exclude<ShipPolicy, 'pr'>;

export interface ShipOptions {
  policy: WorkspaceShipPolicy;
  /** The job's repository, as given to `createWorktree`. */
  repo: string;
  /** Branch to merge into (policy `merge`). @default the repository's HEAD branch */
  target?: string;
  /**
   * Policy `branch`: fast-forward this existing branch of the origin (a review follow-up's pull request
   * branch, where the worktree started) instead of creating `conveyor/<jobId>`. A HEAD the branch
   * already holds is not pushed again; a branch that moved elsewhere fails with `BranchMovedError`.
   * @default none
   */
  onto?: string;
  /** First paragraph of the merge commit's message; the `Conveyor-Job` trailer is added. @default "Conveyor job <jobId>" */
  message?: string;
  /**
   * Called right before anything leaves the machine (each push or local fast-forward). The factory
   * confirms its lease here and throws when fenced: the error propagates as it is and nothing is pushed.
   */
  beforePush?: () => Promise<void>;
  /** Attempts when the target keeps moving under the merge. @default 5 */
  maxAttempts?: number;
  /** @default the process-wide `defaultLocks` */
  locks?: PathLocks;
  /** Refuses (`SecretInChangesError`) to ship a change whose files hold a secret. @default no search */
  secrets?: SecretScanner;
  /**
   * What the origin asks for (a private repository, a push): given to git by a credential helper in the
   * environment of the commands that reach it only (`credentials.ts`). @default none (git's own configuration)
   */
  credentials?: GitCredentials | undefined;
}

export interface ShipResult {
  policy: WorkspaceShipPolicy;
  /** `none`: the local job branch; `branch`: the pushed branch; `merge`: the target. */
  branch?: string;
  /** The commit shipped (or found already shipped); absent when there was nothing to ship. */
  commit?: string;
  /** True when an earlier run had already shipped this job; nothing was pushed this time. */
  alreadyShipped: boolean;
  /** True when the job changed nothing relative to the target, so nothing was shipped. */
  empty: boolean;
  /** Merge attempts made (more than 1 when the target moved under us). */
  attempts: number;
}

async function assertCommitted(wt: Worktree): Promise<string> {
  // A nested repository's files are the agent's: its commit counts, its working files are not examined.
  const status = await git(['status', '--porcelain', '--ignore-submodules=dirty'], inWorktree(wt));
  if (status.trim() !== '') {
    throw new UncommittedChangesError(
      `job ${wt.jobId}: the worktree ${wt.path} has uncommitted changes; commit them (commitWip) before shipping`,
    );
  }
  return (await git(['rev-parse', 'HEAD'], inWorktree(wt))).trim();
}

/** The commit of the origin's `branch` (`conveyor/<jobId>` unless named), if there is one. */
async function publishedBranch(
  wt: Worktree,
  credentials?: GitCredentials,
  branch = wt.branch,
): Promise<string | undefined> {
  const out = await git(['ls-remote', 'origin', `refs/heads/${branch}`], {
    cwd: wt.mirror,
    env: credentialEnv(credentials),
  });
  return out.split(/\s+/)[0] || undefined;
}

/** Pushes the job's HEAD as `conveyor/<jobId>` unless that branch already exists at the origin (first result wins). */
async function shipBranch(wt: Worktree, head: string, options: ShipOptions): Promise<ShipResult> {
  const branch = wt.branch;
  const ref = `refs/heads/${branch}`;
  const base = { policy: options.policy, branch, alreadyShipped: false, empty: false, attempts: 1 };
  const found = await publishedBranch(wt, options.credentials);
  if (found !== undefined) return { ...base, commit: found, alreadyShipped: true };
  await options.beforePush?.();
  // Create-only: the lease with an empty expected value fails if the branch appeared meanwhile.
  const push = ['push', '--porcelain', `--force-with-lease=${ref}:`, 'origin', `${head}:${ref}`];
  const where = { cwd: wt.mirror, env: credentialEnv(options.credentials) };
  const pushed = await gitResult(push, where);
  if (pushed.exitCode !== 0) {
    const raced = await publishedBranch(wt, options.credentials);
    if (raced !== undefined) return { ...base, commit: raced, alreadyShipped: true };
    ensureSuccess(push, where, pushed);
  }
  return { ...base, commit: head };
}

/** Whether `ancestor` is `commit` or an ancestor of it, in the mirror. */
async function contains(mirror: string, commit: string, ancestor: string): Promise<boolean> {
  return (await gitResult(['merge-base', '--is-ancestor', ancestor, commit], { cwd: mirror })).exitCode === 0;
}

/**
 * Fast-forwards the origin's `branch` to the job's HEAD (`ShipOptions.onto`), at most once per commit:
 * a branch that already holds HEAD is left alone (a retried run), one that moved elsewhere is refused.
 */
async function shipOnto(wt: Worktree, head: string, branch: string, options: ShipOptions): Promise<ShipResult> {
  const ref = `refs/heads/${branch}`;
  const base = { policy: options.policy, branch, alreadyShipped: false, empty: false, attempts: 1 };
  const where = { cwd: wt.mirror, env: credentialEnv(options.credentials) };
  /** The branch's commit at the origin, fetched so it can be compared with HEAD. */
  const tip = async (): Promise<string> => {
    const found = await publishedBranch(wt, options.credentials, branch);
    if (found === undefined) throw new WorkspaceInputError(`the branch ${branch} is gone from the origin`);
    await git(['fetch', '--no-tags', '--quiet', 'origin', `+${ref}:refs/remotes/origin/${branch}`], where);
    return found;
  };
  const moved = (at: string): BranchMovedError =>
    new BranchMovedError(
      `the branch ${branch} moved to ${at.slice(0, 12)}, which this job's work (${head.slice(0, 12)}) does not build on (another push to it); run the follow-up again from the branch as it is now`,
    );
  const before = await tip();
  if (await contains(wt.mirror, before, head)) return { ...base, commit: head, alreadyShipped: true };
  if (!(await contains(wt.mirror, head, before))) throw moved(before);
  await options.beforePush?.();
  // Exactly from the tip seen: a push that came in meanwhile makes this one fail rather than vanish.
  const push = ['push', '--porcelain', `--force-with-lease=${ref}:${before}`, 'origin', `${head}:${ref}`];
  const pushed = await gitResult(push, where);
  if (pushed.exitCode !== 0) {
    const now = await tip();
    if (await contains(wt.mirror, now, head)) return { ...base, commit: head, alreadyShipped: true };
    if (now !== before) throw moved(now);
    ensureSuccess(push, where, pushed);
  }
  return { ...base, commit: head };
}

/** Ships the job's committed work per `options.policy`; see `ShipOptions.beforePush` for fencing. */
export async function ship(wt: Worktree, options: ShipOptions): Promise<ShipResult> {
  const head = await assertCommitted(wt);
  // Also what an earlier run committed (a resumed WIP): nothing holding a secret leaves the machine.
  await refuseSecrets(wt, options.secrets);
  const locks = options.locks ?? defaultLocks;
  if (options.policy === 'none') {
    return { policy: 'none', branch: wt.branch, commit: head, alreadyShipped: false, empty: false, attempts: 0 };
  }
  // Under the mirror's lock: the push also moves the mirror's refs/remotes/origin/conveyor/<jobId>.
  if (options.policy === 'branch') {
    const { onto } = options;
    return locks.withLock(wt.mirror, () =>
      onto === undefined ? shipBranch(wt, head, options) : shipOnto(wt, head, onto, options),
    );
  }
  const env = credentialEnv(options.credentials);
  const target = options.target ?? (await defaultBranch(wt.mirror, { locks, env }));
  const outcome = await shipMerge({
    wt,
    origin: await locateRepo(options.repo),
    target,
    head,
    message: options.message ?? `Conveyor job ${wt.jobId}`,
    maxAttempts: options.maxAttempts ?? 5,
    locks,
    beforePush: options.beforePush,
    env,
  });
  const base = { policy: options.policy, branch: target, attempts: outcome.attempts };
  switch (outcome.kind) {
    case 'shipped':
      return { ...base, commit: outcome.commit, alreadyShipped: false, empty: false };
    case 'already':
      return { ...base, commit: outcome.commit, alreadyShipped: true, empty: false };
    case 'empty':
      return { ...base, alreadyShipped: false, empty: true };
  }
}

/**
 * What an earlier run of the job already shipped under `options.policy`, found without shipping
 * anything: its commit on the target (the `Conveyor-Job` trailer) for `merge`, its branch at the origin
 * for `branch`; undefined when nothing was shipped (always for `none`, which ships nowhere).
 */
export async function findShipped(
  wt: Worktree,
  options: Pick<ShipOptions, 'policy' | 'repo' | 'target' | 'locks' | 'credentials'>,
): Promise<ShipResult | undefined> {
  const found = { policy: options.policy, alreadyShipped: true, empty: false, attempts: 0 };
  if (options.policy === 'none') return undefined;
  const locks = options.locks ?? defaultLocks;
  if (options.policy === 'branch') {
    const commit = await locks.withLock(wt.mirror, () => publishedBranch(wt, options.credentials));
    return commit === undefined ? undefined : { ...found, branch: wt.branch, commit };
  }
  const env = credentialEnv(options.credentials);
  const target = options.target ?? (await defaultBranch(wt.mirror, { locks, env }));
  const commit = await findMerged({ wt, origin: await locateRepo(options.repo), target, locks, env });
  return commit === undefined ? undefined : { ...found, branch: target, commit };
}
