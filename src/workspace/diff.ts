/** What the agent changed: files and unified-diff size between the base and the working tree, committed or not. */
import { randomBytes } from 'node:crypto';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { git, gitOutputBytes, gitOutputHead } from './git.js';
import { inWorktree, type Worktree } from './worktree.js';

export interface DiffStats {
  /** Paths (relative to the repository root) added, modified or deleted since `baseCommit`, sorted; a rename counts as both. */
  files: string[];
  /** Size of `git diff --binary` from `baseCommit` to the working tree. */
  bytes: number;
  /** The unified diff (text; binary files named, not shown), its first `PATCH_BYTES` in whole lines. */
  patch: string;
  /** Whether `patch` was cut. */
  patchTruncated: boolean;
}

/** How much of the unified diff a result keeps, for people to read. */
export const PATCH_BYTES = 64 * 1024;

const DIFF_FLAGS = ['--no-renames', '--no-ext-diff', '--no-textconv', '--no-color'];

/**
 * Files and diff size from `wt.baseCommit` to the working tree, including uncommitted and untracked
 * (not ignored) files. Works on a throw-away copy of the index, so the worktree and its index are untouched.
 */
export async function diffStats(wt: Worktree): Promise<DiffStats> {
  const index = join(wt.gitDir, `conveyor-diff-index-${randomBytes(4).toString('hex')}`);
  const at = { ...inWorktree(wt), env: { GIT_INDEX_FILE: index } };
  try {
    // A copy of the real index keeps its stat data, so `add` hashes only the files that changed.
    try {
      await copyFile(join(wt.gitDir, 'index'), index);
    } catch {
      await git(['read-tree', 'HEAD'], at);
    }
    await git(['add', '--all'], at);
    const names = await git(['diff', '--cached', '--name-only', '-z', ...DIFF_FLAGS, wt.baseCommit], at);
    const bytes = await gitOutputBytes(['diff', '--cached', '--binary', ...DIFF_FLAGS, wt.baseCommit], at);
    const patch = await gitOutputHead(['diff', '--cached', ...DIFF_FLAGS, wt.baseCommit], at, PATCH_BYTES);
    const files = names.split('\0').filter((name) => name !== '');
    return { files: files.sort(), bytes, patch: patch.text, patchTruncated: patch.truncated };
  } finally {
    await rm(index, { force: true });
    await rm(`${index}.lock`, { force: true });
  }
}
