/**
 * Refusing to commit a secret: the files a job changed are read from disk and searched before
 * anything is added to git (`git add` would already write the secret into a blob). The workspace knows
 * no secret itself; the caller passes a `SecretScanner`.
 */
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { SecretInChangesError } from './errors.js';
import { git } from './git.js';
import { inWorktree, type Worktree } from './worktree.js';

/** Finds secrets in text (the core `Redactor` is one). */
export interface SecretScanner {
  /** True when `text` holds a secret in any form the scanner knows. */
  contains(text: string): boolean;
  /** Length of the longest form looked for (0: nothing to look for). */
  readonly longest: number;
}

/** How much of a file is searched at a time; pieces overlap so a secret across a boundary is found. */
const CHUNK_BYTES = 1024 * 1024;

/** Files added, changed or untracked (not ignored) since `wt.baseCommit`, committed or not; none are hashed into git. */
async function changedPaths(wt: Worktree): Promise<string[]> {
  const at = inWorktree(wt);
  const tracked = await git(['diff', '--name-only', '-z', '--no-renames', wt.baseCommit, '--'], at);
  const untracked = await git(['ls-files', '--others', '--exclude-standard', '-z'], at);
  const paths = `${tracked}${untracked}`.split('\0').filter((path) => path !== '');
  return [...new Set(paths)].sort();
}

async function fileHolds(path: string, scanner: SecretScanner): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const decoder = new StringDecoder('utf8');
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let carried = '';
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      const text = carried + (bytesRead === 0 ? decoder.end() : decoder.write(buffer.subarray(0, bytesRead)));
      if (scanner.contains(text)) return true;
      if (bytesRead === 0) return false;
      carried = text.slice(Math.max(0, text.length - scanner.longest + 1));
    }
  } finally {
    await handle.close();
  }
}

/** What git would store for `path`: a file's bytes, a link's target; nothing for a directory (a nested repository) or a deleted file. */
async function holdsSecret(root: string, path: string, scanner: SecretScanner): Promise<boolean> {
  // The path becomes part of a tree object too.
  if (scanner.contains(path)) return true;
  const full = join(root, path);
  const info = await lstat(full).catch(() => undefined);
  if (info === undefined) return false;
  if (info.isSymbolicLink()) return scanner.contains(await readlink(full));
  return info.isFile() && (await fileHolds(full, scanner));
}

/** The changed and untracked files of the worktree (relative paths) that hold a secret; none when `scanner` knows none. */
export async function filesWithSecrets(wt: Worktree, scanner: SecretScanner): Promise<string[]> {
  if (scanner.longest === 0) return [];
  const found: string[] = [];
  for (const path of await changedPaths(wt)) {
    if (await holdsSecret(wt.path, path, scanner)) found.push(path);
  }
  return found;
}

/**
 * Throws `SecretInChangesError` naming the files (never the value) when a changed or untracked file
 * holds a secret. Call it before any git command that would hash the worktree's files.
 */
export async function refuseSecrets(wt: Worktree, scanner: SecretScanner | undefined): Promise<void> {
  if (scanner === undefined) return;
  const files = await filesWithSecrets(wt, scanner);
  if (files.length === 0) return;
  const shown = files.slice(0, 10).join(', ') + (files.length > 10 ? ` (and ${files.length - 10} more)` : '');
  throw new SecretInChangesError(
    `a secret value is in the job's changes (${shown}); refusing to commit or ship it: remove the secret from the files, or stop granting it to the job`,
    files,
  );
}
