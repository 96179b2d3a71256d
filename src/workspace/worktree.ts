/**
 * A git worktree per job at `<workdir>/worktrees/<jobId>`, on branch `conveyor/<jobId>` in the
 * repository's mirror. A finished job's worktree is detached and parked under
 * `<workdir>/idle-worktrees/<mirror>/` for the next job of the same repository: moving it back and
 * checking out the next start commit rewrites only the files that differ, where `worktree add`
 * writes every file of the repository again (seconds on a large one). A factory killed with -9 leaves
 * its worktrees behind: `removeOrphanWorktrees` clears them when a factory starts on the workdir again.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { git, gitResult, setupExcludesFile, tryRevParse, type GitOptions } from './git.js';
import { defaultLocks, type PathLocks } from './locks.js';
import { ensureMirror, originHeadBranch } from './mirror.js';
import { WorkspaceInputError } from './errors.js';
import { credentialEnv, type GitCredentials } from './credentials.js';

export interface Worktree {
  jobId: string;
  /** Absolute path of the checked-out files. */
  path: string;
  /** `conveyor/<jobId>`, a branch of the mirror. */
  branch: string;
  /** What the job's changes are measured against: the base ref's commit (or, on resume, where the WIP forked from it). */
  baseCommit: string;
  /** Absolute path of the bare mirror the worktree belongs to. */
  mirror: string;
  /**
   * The worktree's git directory in the mirror (`<mirror>/worktrees/<name>`), from the mirror's own
   * records: never read back from the worktree's `.git` file, which the agent can rewrite.
   */
  gitDir: string;
  /** The factory workdir the worktree lives under (where its idle pool is). */
  workdir: string;
}

export interface CreateWorktreeOptions {
  workdir: string;
  /** Local path or git URL. */
  repo: string;
  jobId: string;
  /** A branch of the repository (or a commit or full ref). @default the repository's HEAD branch */
  base?: string;
  /** A WIP commit from an earlier run's checkpoint; looked up locally, then at the origin's `refs/conveyor/wip/<jobId>`. */
  resumeCommit?: string;
  /** @default the process-wide `defaultLocks` */
  locks?: PathLocks;
  /** A private repository's credentials, for every git command that reaches the origin. */
  credentials?: GitCredentials | undefined;
}

const SAFE_JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws unless `jobId` is safe as a path segment and a branch name. */
export function assertJobId(jobId: string): void {
  if (!SAFE_JOB_ID.test(jobId) || jobId.includes('..') || jobId.endsWith('.lock')) {
    throw new WorkspaceInputError(`job id "${jobId}" cannot name a worktree: use letters, digits, ".", "_" and "-"`);
  }
}

export function wipRef(jobId: string): string {
  return `refs/conveyor/wip/${jobId}`;
}

/** How the factory runs git in the worktree: the git directory and work tree named, never found from its `.git`. */
export function inWorktree(wt: Pick<Worktree, 'path' | 'gitDir'>): GitOptions {
  return { cwd: wt.path, gitDir: wt.gitDir, workTree: wt.path };
}

/** The git directory the mirror records for the worktree at `path` (each `worktrees/<name>/gitdir` names its `.git`). */
async function recordedGitDir(mirror: string, path: string): Promise<string> {
  const records = join(mirror, 'worktrees');
  const dotGit = join(await realpath(path), '.git');
  for (const name of await readdir(records)) {
    const named = await readFile(join(records, name, 'gitdir'), 'utf8').catch(() => '');
    if (named.trim() === dotGit) return realpath(join(records, name));
  }
  throw new Error(`the mirror ${mirror} has no record of the worktree ${path}`);
}

/**
 * Puts back the worktree's `.git` file (what git wrote: `gitdir: <gitDir>`) if the agent changed,
 * replaced or removed it, so its own git in the sandbox and the mirror's `worktree move` see the real
 * repository. Call after every step that ran code in the worktree. True when it had to.
 */
export async function restoreGitFile(wt: Pick<Worktree, 'path' | 'gitDir'>): Promise<boolean> {
  const path = join(wt.path, '.git');
  const expected = `gitdir: ${wt.gitDir}\n`;
  const stat = await lstat(path).catch(() => undefined);
  if (stat?.isFile() === true && (await readFile(path, 'utf8')) === expected) return false;
  await rm(path, { recursive: true, force: true });
  await writeFile(path, expected);
  return true;
}

/** Removes whatever a crashed earlier run left at `path`, and the mirror's record of it. */
async function clearPath(mirror: string, path: string): Promise<void> {
  if (existsSync(path)) {
    const removed = await gitResult(['worktree', 'remove', '--force', '--force', path], { cwd: mirror });
    if (removed.exitCode !== 0) await rm(path, { recursive: true, force: true });
  }
  await git(['worktree', 'prune'], { cwd: mirror });
}

function idleDir(workdir: string, mirror: string): string {
  return join(workdir, 'idle-worktrees', basename(mirror));
}

async function idleWorktrees(workdir: string, mirror: string): Promise<string[]> {
  try {
    return (await readdir(idleDir(workdir, mirror))).map((name) => join(idleDir(workdir, mirror), name));
  } catch {
    return [];
  }
}

/**
 * Moves an idle worktree of the mirror to `path` and checks out `branch` at `start` in it, every
 * tracked file as in `start` and nothing untracked or ignored left: the same files a fresh
 * `worktree add` writes. False (and the idle one removed) when there is none or it is unusable.
 */
async function reuseIdle(
  workdir: string,
  mirror: string,
  path: string,
  branch: string,
  start: string,
): Promise<boolean> {
  for (const idle of await idleWorktrees(workdir, mirror)) {
    const moved = await gitResult(['worktree', 'move', idle, path], { cwd: mirror });
    if (moved.exitCode !== 0) {
      await clearPath(mirror, idle);
      continue;
    }
    const at = inWorktree({ path, gitDir: await recordedGitDir(mirror, path) });
    const checkedOut = await gitResult(['checkout', '--quiet', '--force', '-B', branch, start], at);
    const cleaned = checkedOut.exitCode === 0 && (await gitResult(['clean', '-ffdxq'], at)).exitCode === 0;
    if (cleaned) return true;
    await clearPath(mirror, path);
    return false;
  }
  return false;
}

async function resolveBase(mirror: string, base: string | undefined, env: Record<string, string>): Promise<string> {
  const name = base ?? (await originHeadBranch(mirror, env));
  const commit = (await tryRevParse(`refs/remotes/origin/${name}`, mirror)) ?? (await tryRevParse(name, mirror));
  if (commit === undefined) throw new WorkspaceInputError(`base ref "${name}" does not exist in the repository`);
  return commit;
}

async function findResumeCommit(
  mirror: string,
  jobId: string,
  commit: string,
  env: Record<string, string>,
): Promise<string> {
  if (!/^[0-9a-f]{7,64}$/i.test(commit)) throw new WorkspaceInputError(`resume commit "${commit}" is not a commit id`);
  const local = await tryRevParse(commit, mirror);
  if (local !== undefined) return local;
  const ref = wipRef(jobId);
  await gitResult(['fetch', '--no-tags', '--quiet', 'origin', `+${ref}:${ref}`], { cwd: mirror, env });
  const fetched = await tryRevParse(commit, mirror);
  if (fetched !== undefined) return fetched;
  throw new WorkspaceInputError(
    `resume commit ${commit} of job ${jobId} is neither in the mirror nor at the origin's ${ref}; start from the base instead`,
  );
}

/**
 * The job's directory for its agent runtimes' state (`AgentRun.stateDir`): `<workdir>/agent-state/<jobId>`,
 * kept across the job's runs on this factory, removed with `removeAgentState` when the job is done.
 */
export function agentStateDir(workdir: string, jobId: string): string {
  assertJobId(jobId);
  return join(workdir, 'agent-state', jobId);
}

/** Removes the job's agent state (`agentStateDir`): nothing in it chooses what runs here. */
export async function removeAgentState(workdir: string, jobId: string): Promise<void> {
  await rm(agentStateDir(workdir, jobId), { recursive: true, force: true });
}

/**
 * Fetches the mirror, then checks out a fresh worktree for the job from `base` or from `resumeCommit`.
 * A worktree left at the same path by a crashed earlier run is removed first; the job branch is reset.
 */
export async function createWorktree(options: CreateWorktreeOptions): Promise<Worktree> {
  const { workdir, repo, jobId } = options;
  assertJobId(jobId);
  const locks = options.locks ?? defaultLocks;
  const env = credentialEnv(options.credentials);
  const mirror = await ensureMirror(workdir, repo, { locks, env });
  const path = join(workdir, 'worktrees', jobId);
  const branch = `conveyor/${jobId}`;
  return locks.withLock(path, () =>
    locks.withLock(mirror, async () => {
      await clearPath(mirror, path);
      const baseTip = await resolveBase(mirror, options.base, env);
      let start = baseTip;
      let baseCommit = baseTip;
      if (options.resumeCommit !== undefined) {
        start = await findResumeCommit(mirror, jobId, options.resumeCommit, env);
        const forked = await gitResult(['merge-base', baseTip, start], { cwd: mirror });
        if (forked.exitCode === 0) baseCommit = forked.stdout.trim();
      }
      if (!(await reuseIdle(workdir, mirror, path, branch, start))) {
        await git(['worktree', 'add', '--quiet', '-B', branch, path, start], { cwd: mirror });
      }
      const gitDir = await recordedGitDir(mirror, path);
      // A reused idle worktree keeps its git directory: what the last job's setup created is gone, and so is its exclusion.
      await rm(setupExcludesFile(gitDir), { force: true });
      return { jobId, path, branch, baseCommit, mirror, workdir, gitDir };
    }),
  );
}

/**
 * Removes every worktree under `<workdir>/worktrees/` whose job `isLive` does not claim (left by a
 * factory killed mid-job), then the mirrors' records of them. The job branches stay in the mirrors: a
 * resumed job still finds its WIP commits there. Answers the job ids whose worktrees were removed.
 */
export async function removeOrphanWorktrees(
  workdir: string,
  isLive: (jobId: string) => Promise<boolean>,
  locks: PathLocks = defaultLocks,
): Promise<string[]> {
  const root = join(workdir, 'worktrees');
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const jobId of names) {
    if (await isLive(jobId)) continue;
    const path = join(root, jobId);
    // Plain removal: nothing in the worktree (its `.git` file included) chooses what runs here.
    await locks.withLock(path, () => rm(path, { recursive: true, force: true }));
    removed.push(jobId);
  }
  if (removed.length === 0) return removed;
  let mirrors: string[];
  try {
    mirrors = await readdir(join(workdir, 'mirrors'));
  } catch {
    return removed;
  }
  for (const name of mirrors) {
    const mirror = join(workdir, 'mirrors', name);
    await locks.withLock(mirror, () => gitResult(['worktree', 'prune'], { cwd: mirror }));
  }
  return removed;
}

export interface RemoveWorktreeOptions {
  /** Also delete the job branch from the mirror (it is the only copy of a `none`-shipped result). @default false */
  deleteBranch?: boolean;
  /**
   * Park the worktree (detached, its job branch kept) for the next job of the repository instead of
   * deleting its files, while fewer than this many are parked for the mirror. @default 0 (delete)
   */
  keepIdle?: number;
  /** @default the process-wide `defaultLocks` */
  locks?: PathLocks;
}

/** Parks the worktree in the idle pool; false when it could not be (the caller removes it). */
async function park(wt: Worktree, keepIdle: number): Promise<boolean> {
  if ((await idleWorktrees(wt.workdir, wt.mirror)).length >= keepIdle) return false;
  // Detached, so the job branch is free to be checked out again (a retry) or deleted.
  if ((await gitResult(['checkout', '--quiet', '--detach'], inWorktree(wt))).exitCode !== 0) return false;
  // `worktree move` checks the `.git` file points back at the mirror.
  await restoreGitFile(wt);
  const dir = idleDir(wt.workdir, wt.mirror);
  await mkdir(dir, { recursive: true });
  const idle = join(dir, randomBytes(6).toString('hex'));
  return (await gitResult(['worktree', 'move', wt.path, idle], { cwd: wt.mirror })).exitCode === 0;
}

/** Removes the worktree from the job's path: parked for reuse (`keepIdle`) or deleted with the mirror's record of it. */
export async function removeWorktree(wt: Worktree, options: RemoveWorktreeOptions = {}): Promise<void> {
  const locks = options.locks ?? defaultLocks;
  await locks.withLock(wt.path, () =>
    locks.withLock(wt.mirror, async () => {
      if (!(await park(wt, options.keepIdle ?? 0))) await clearPath(wt.mirror, wt.path);
      if (options.deleteBranch === true) {
        await gitResult(['branch', '--quiet', '-D', wt.branch], { cwd: wt.mirror });
      }
    }),
  );
}
