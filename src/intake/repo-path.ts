/**
 * A task's `repo` as its submitter sees it: a relative path is relative to the task file (the README's
 * `repo: ../bookmarks`), so it is resolved against the file's folder when the task is submitted, and a
 * local repository is checked there and then. A URL is left as it is: only a factory can reach it.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import { isRemoteRepo } from '../core/repo.js';

/** Why the repository at the absolute `path` cannot be used (missing, not one), or undefined when it can. */
export function localRepoProblem(path: string): string | undefined {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return 'does not exist';
  }
  if (!isDirectory) return 'is not a directory';
  // A working tree has `.git` (a folder, or a file in a linked worktree); a bare repository is its own git directory.
  if (existsSync(join(path, '.git'))) return undefined;
  if (['HEAD', 'objects', 'refs'].every((name) => existsSync(join(path, name)))) return undefined;
  return 'is not a git repository (no .git in it, and not a bare repository); name the top folder of the repository';
}

/**
 * The `repo` to submit: a URL as it is; a path resolved against `base.dir` (the task file's folder,
 * which `base.what` names in messages) and checked. Throws a `ValidationError` naming `field`, the path
 * it looked at, and the fix.
 */
export function resolveRepo(repo: string, base: { dir: string; what: string }, field = 'repo'): string {
  if (isRemoteRepo(repo)) return repo;
  const path = resolve(base.dir, repo);
  const problem = localRepoProblem(path);
  if (problem === undefined) return path;
  const from = isAbsolute(repo) ? '' : ` (from "${repo}", relative to ${base.what}, ${base.dir})`;
  const message = `${path}${from} ${problem}; fix the path`;
  throw new ValidationError(`${field}: ${message}`, { details: [{ path: field, message }] });
}
