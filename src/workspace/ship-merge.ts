/**
 * Ship policy `merge`: the job's changes land on the target branch as ONE new commit (a squash merge)
 * whose parent is the target's tip and whose message carries `Conveyor-Job: <jobId>`. The update is a
 * fast-forward compare-and-set; when the target moved meanwhile, everything is redone from a fresh fetch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureSuccess, git, gitResult, tryRevParse } from './git.js';
import { type CheckoutLock, withCheckoutLock } from './checkout-lock.js';
import { assertClean, checkedOutAt, fastForwardCheckout } from './local-target.js';
import type { PathLocks } from './locks.js';
import type { RepoLocation } from './repo.js';
import { findShippedCommit } from './shipped.js';
import { withJobTrailer } from './wip.js';
import type { Worktree } from './worktree.js';
import { MergeConflictError, ShipContendedError } from './errors.js';

export interface MergeInput {
  wt: Worktree;
  origin: RepoLocation;
  target: string;
  head: string;
  message: string;
  maxAttempts: number;
  locks: PathLocks;
  beforePush: (() => Promise<void>) | undefined;
  /** For the commands that reach the origin: its credentials (`credentialEnv`). */
  env: Record<string, string>;
}

export type MergeOutcome =
  | { kind: 'shipped'; commit: string; attempts: number }
  | { kind: 'already'; commit: string; attempts: number }
  | { kind: 'empty'; attempts: number };

type Attempt = MergeOutcome | { kind: 'moved' };

// What a rejected compare-and-set looks like: the target moved, or another push held the ref lock.
const MOVED =
  /\[rejected\]|non-fast-forward|fetch first|stale info|cannot lock ref|failed to update ref|refusing to update checked out branch/;

async function treeOf(commit: string, cwd: string): Promise<string> {
  return (await git(['rev-parse', `${commit}^{tree}`], { cwd })).trim();
}

/** The squash commit of the job onto `tip` (or onto the base when the target does not exist); undefined when it would change nothing. */
async function squash(mirror: string, tip: string | undefined, input: MergeInput): Promise<string | undefined> {
  const { wt, head } = input;
  const parent = tip ?? wt.baseCommit;
  let tree = await treeOf(head, mirror);
  if (tip !== undefined) {
    const args = ['merge-tree', '--write-tree', '--name-only', '--no-messages', tip, head];
    const merged = await gitResult(args, { cwd: mirror });
    const [treeLine = '', ...conflicted] = merged.stdout.split('\n').filter((line) => line !== '');
    if (merged.exitCode === 1) {
      throw new MergeConflictError(
        `job ${wt.jobId} conflicts with ${input.target} in ${conflicted.join(', ') || '(unknown files)'}`,
        conflicted,
      );
    }
    ensureSuccess(args, { cwd: mirror }, merged);
    tree = treeLine.trim();
  }
  if (tree === (await treeOf(parent, mirror))) return undefined;
  const args = ['commit-tree', '--no-gpg-sign', tree, '-p', parent, '-F', '-'];
  return (await git(args, { cwd: mirror, input: withJobTrailer(input.message, wt.jobId) })).trim();
}

/** Fetches the origin's `target` into `tracking`; a target that does not exist yet leaves `tracking` unset. */
async function fetchTarget(
  mirror: string,
  target: string,
  tracking: string,
  env: Record<string, string>,
): Promise<void> {
  const args = ['fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${target}:${tracking}`];
  const fetched = await gitResult(args, { cwd: mirror, env });
  if (fetched.exitCode === 0) return;
  const exists = await gitResult(['ls-remote', '--exit-code', 'origin', `refs/heads/${target}`], { cwd: mirror, env });
  if (exists.exitCode !== 2) ensureSuccess(args, { cwd: mirror }, fetched);
  await gitResult(['update-ref', '-d', tracking], { cwd: mirror });
}

/** The target is checked out in the user's repository at `path`; ships into it hold its lock. */
interface Checkout {
  path: string;
  lock: CheckoutLock;
}

/** What `work` needs about the target: where the mirror fetches it, and the checkout lock if it is checked out. */
interface Target {
  wt: Worktree;
  origin: RepoLocation;
  target: string;
  locks: PathLocks;
  env: Record<string, string>;
}

/**
 * Runs `work` under the mirror's lock and, when the target is checked out in the user's repository,
 * its checkout lock too (which first repairs a fast-forward a killed holder left half-done).
 */
async function withTargetLocks<T>(input: Target, work: (checkout: Checkout | undefined) => Promise<T>): Promise<T> {
  const { origin, target } = input;
  return input.locks.withLock(input.wt.mirror, async () => {
    const path = origin.local && !origin.bare ? await checkedOutAt(origin.url, target) : undefined;
    if (path === undefined) return work(undefined);
    return withCheckoutLock(path, (lock) => work({ path, lock }));
  });
}

/** Fetches the target into the mirror: its tip, and the job's commit on it when one is there. */
async function fetchShipped(
  wt: Worktree,
  target: string,
  env: Record<string, string>,
): Promise<{ tip?: string; shipped?: string }> {
  const tracking = `refs/remotes/origin/${target}`;
  await fetchTarget(wt.mirror, target, tracking, env);
  const tip = await tryRevParse(tracking, wt.mirror);
  if (tip === undefined) return {};
  const shipped = await findShippedCommit(wt.mirror, tip, wt.jobId);
  return shipped === undefined ? { tip } : { tip, shipped };
}

/** The commit carrying the job's trailer on the origin's `target`, if an earlier run merged it; ships nothing. */
export function findMerged(input: Target): Promise<string | undefined> {
  return withTargetLocks(input, async () => (await fetchShipped(input.wt, input.target, input.env)).shipped);
}

async function attemptOn(input: MergeInput, attempts: number, checkout: Checkout | undefined): Promise<Attempt> {
  const { wt, target } = input;
  const mirror = wt.mirror;
  const tracking = `refs/remotes/origin/${target}`;
  const shipRef = `refs/conveyor/ship/${wt.jobId}`;
  if (checkout !== undefined) await assertClean(checkout.path, target);
  const { tip, shipped } = await fetchShipped(wt, target, input.env);
  if (shipped !== undefined) return { kind: 'already', commit: shipped, attempts };
  const commit = await squash(mirror, tip, input);
  if (commit === undefined) return { kind: 'empty', attempts };
  await git(['update-ref', shipRef, commit], { cwd: mirror });
  try {
    if (checkout !== undefined) {
      const moved = !(await fastForwardCheckout(checkout.path, mirror, shipRef, commit, tip, async () => {
        await input.beforePush?.();
        if (tip !== undefined) await checkout.lock.intend({ from: tip, to: commit });
      }));
      if (moved) return { kind: 'moved' };
    } else {
      await input.beforePush?.();
      // No force: the origin accepts this only as a fast-forward of the tip we merged onto.
      const push = ['push', '--porcelain', 'origin', `${commit}:refs/heads/${target}`];
      const pushed = await gitResult(push, { cwd: mirror, env: input.env });
      if (pushed.exitCode !== 0 && MOVED.test(pushed.stderr + pushed.stdout)) return { kind: 'moved' };
      ensureSuccess(push, { cwd: mirror }, pushed);
    }
  } finally {
    await gitResult(['update-ref', '-d', shipRef], { cwd: mirror });
  }
  await git(['update-ref', tracking, commit], { cwd: mirror });
  return { kind: 'shipped', commit, attempts };
}

/** Squash-merges the job into `target` at most once; retries from a fresh fetch while the target moves. */
export async function shipMerge(input: MergeInput): Promise<MergeOutcome> {
  for (let attempts = 1; attempts <= input.maxAttempts; attempts++) {
    const outcome = await withTargetLocks(input, (checkout) => attemptOn(input, attempts, checkout));
    if (outcome.kind !== 'moved') return outcome;
    // Jitter, so two factories racing for the same target do not collide again in lockstep.
    await sleep(20 * attempts + Math.floor(Math.random() * 50 * attempts));
  }
  throw new ShipContendedError(
    `job ${input.wt.jobId}: ${input.target} moved during each of ${input.maxAttempts} attempts to merge into it; try again later`,
  );
}
