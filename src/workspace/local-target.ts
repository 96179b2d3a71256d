/** Updating a branch that is checked out in the user's own (non-bare) repository, without touching their work. */
import { git } from './git.js';
import { TargetDirtyError } from './errors.js';

/** The working tree (main or linked) of `repo` that has `branch` checked out, if any. */
export async function checkedOutAt(repo: string, branch: string): Promise<string | undefined> {
  const out = await git(['worktree', 'list', '--porcelain'], { cwd: repo });
  let path: string | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('worktree ')) path = line.slice('worktree '.length);
    else if (line === `branch refs/heads/${branch}`) return path;
  }
  return undefined;
}

/** Throws `TargetDirtyError` when tracked files in `path` have uncommitted changes. */
export async function assertClean(path: string, branch: string): Promise<void> {
  const status = await git(['status', '--porcelain', '--untracked-files=no'], { cwd: path });
  const files = status
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.slice(3));
  if (files.length > 0) {
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? ` (and ${files.length - 5} more)` : '');
    throw new TargetDirtyError(
      `cannot merge into ${branch}: it is checked out in ${path} with uncommitted changes (${shown}); commit or stash them and retry`,
      path,
      files,
    );
  }
}

/**
 * Brings `commit` (from `shipRef` of `mirror`) into the checkout at `path` as a fast-forward of its branch.
 * Resolves false when the branch is no longer at `expectedParent` (the user committed meanwhile).
 */
export async function fastForwardCheckout(
  path: string,
  mirror: string,
  shipRef: string,
  commit: string,
  expectedParent: string | undefined,
  beforePush: (() => Promise<void>) | undefined,
): Promise<boolean> {
  await git(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', mirror, shipRef], { cwd: path });
  const head = (await git(['rev-parse', 'HEAD'], { cwd: path })).trim();
  if (head !== expectedParent) return false;
  await beforePush?.();
  try {
    await git(['merge', '--quiet', '--ff-only', '--no-edit', commit], { cwd: path });
  } catch (error) {
    const now = (await git(['rev-parse', 'HEAD'], { cwd: path })).trim();
    if (now !== expectedParent) return false;
    throw error;
  }
  return true;
}
