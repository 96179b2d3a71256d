/**
 * One bare mirror per repository under `<workdir>/mirrors/`, created once and fetched before each job.
 *
 * The mirror is not a `--mirror` clone: the origin's branches land in `refs/remotes/origin/*`, so a
 * pruning fetch never touches the job branches (`refs/heads/conveyor/*`) that worktrees have checked out.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { git } from './git.js';
import { defaultLocks, type PathLocks } from './locks.js';
import { mirrorName, repoUrl } from './repo.js';
import { WorkspaceInputError } from './errors.js';

export interface MirrorOptions {
  /** @default the process-wide `defaultLocks` */
  locks?: PathLocks;
  /** Limit for each git command (a fetch of a large repository may need more). @default 120000 */
  timeoutMs?: number;
  /** For the commands that reach the origin: a private repository's credentials (`credentialEnv`). */
  env?: Record<string, string>;
}

/** The mirror's directory for `repo`, whether or not it exists yet. */
export function mirrorPath(workdir: string, repo: string): string {
  return join(workdir, 'mirrors', mirrorName(repoUrl(repo)));
}

async function fetchOrigin(mirror: string, options: MirrorOptions): Promise<void> {
  await git(
    ['fetch', '--prune', '--no-tags', '--quiet', 'origin'],
    withTimeout({ cwd: mirror, env: options.env ?? {} }, options.timeoutMs),
  );
}

function withTimeout<T extends object>(options: T, timeoutMs: number | undefined): T & { timeoutMs?: number } {
  return timeoutMs === undefined ? options : { ...options, timeoutMs };
}

async function createMirror(mirror: string, url: string, options: MirrorOptions): Promise<void> {
  // Built beside its final place and renamed in, so a crash never leaves a half-made mirror.
  const tmp = `${mirror}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(tmp, { recursive: true });
    await git(['init', '--bare', '--quiet'], { cwd: tmp });
    // `remote add` maps the origin's branches to refs/remotes/origin/*, leaving refs/heads/* to the jobs.
    await git(['remote', 'add', 'origin', url], { cwd: tmp });
    // Automatic gc while another job commits in a sibling worktree races on ref locks; see gcMirror.
    await git(['config', 'gc.auto', '0'], { cwd: tmp });
    await git(['config', 'maintenance.auto', 'false'], { cwd: tmp });
    // Worktrees of large repositories: the untracked cache and index v4 make add and status cheap.
    await git(['config', 'feature.manyFiles', 'true'], { cwd: tmp });
    await fetchOrigin(tmp, options);
    await rename(tmp, mirror);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The bare mirror of `repo` (a local path, relative to the current directory, or a git URL), cloned the
 * first time and fetched (with prune) every later time. Returns its absolute path.
 */
export async function ensureMirror(workdir: string, repo: string, options: MirrorOptions = {}): Promise<string> {
  const mirror = mirrorPath(workdir, repo);
  const url = repoUrl(repo);
  if (url === resolve(url) && !existsSync(url)) {
    throw new WorkspaceInputError(`repository ${url} does not exist (from repo "${repo}")`);
  }
  const locks = options.locks ?? defaultLocks;
  await locks.withLock(mirror, async () => {
    if (existsSync(mirror)) await fetchOrigin(mirror, options);
    else {
      await mkdir(join(workdir, 'mirrors'), { recursive: true });
      await createMirror(mirror, url, options);
    }
  });
  return mirror;
}

/**
 * The branch the origin's HEAD points at (its default branch), asked of the origin (`env`: its
 * credentials, as for a fetch). Call under the mirror's lock.
 */
export async function originHeadBranch(mirror: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await git(['remote', 'set-head', 'origin', '--auto'], { cwd: mirror, env });
    const ref = (await git(['symbolic-ref', '--short', 'refs/remotes/origin/HEAD'], { cwd: mirror })).trim();
    return ref.replace(/^origin\//, '');
  } catch (cause) {
    throw new WorkspaceInputError(
      `cannot tell the default branch of the repository behind ${mirror} (empty repository or detached HEAD); give the job a base ref`,
      { cause },
    );
  }
}

/** The origin's default branch, as `originHeadBranch`, taking the mirror's lock. */
export function defaultBranch(mirror: string, options: MirrorOptions = {}): Promise<string> {
  return (options.locks ?? defaultLocks).withLock(mirror, () => originHeadBranch(mirror, options.env));
}

/** Packs the mirror's objects and refs (automatic gc is off in mirrors); run it now and then between jobs. */
export async function gcMirror(mirror: string, options: MirrorOptions = {}): Promise<void> {
  await (options.locks ?? defaultLocks).withLock(mirror, () =>
    git(['gc', '--quiet'], withTimeout({ cwd: mirror }, options.timeoutMs)),
  );
}
