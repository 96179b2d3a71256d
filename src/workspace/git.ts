/**
 * Runs the `git` binary (no shell) with a fixed identity, no prompts, and errors that name the command.
 * In a job's worktree the factory names the git directory and work tree itself and turns off what
 * would run a program: the worktree (its `.git` file included) is the agent's to write.
 */
import { join } from 'node:path';
import { processEnvironment } from '../config/environment.js';
import { runProcess } from '../process/run.js';
import { GitError } from './errors.js';

export interface GitOptions {
  /** Directory to run in. */
  cwd: string;
  /** Extra environment variables; they override the defaults (including the identity). */
  env?: Record<string, string>;
  /** Kill git (SIGKILL) after this long. @default 120000 */
  timeoutMs?: number;
  /** Written to git's stdin (stdin is closed either way). */
  input?: string;
  /**
   * The git directory, given as `--git-dir` (with `workTree` as `--work-tree`) so git never finds it
   * from `cwd`, and with hooks, fsmonitor and submodule recursion off (`WORKTREE_CONFIG`).
   * @default found by git from `cwd`, as usual (the mirror, the user's repository)
   */
  gitDir?: string;
  /** The work tree, with `gitDir`. @default none (a bare repository) */
  workTree?: string;
}

export interface GitIdentity {
  name: string;
  email: string;
}

/** Who Conveyor's own commits (WIP, ship) are by, unless `env` sets `GIT_AUTHOR_*`/`GIT_COMMITTER_*`. */
export const CONVEYOR_IDENTITY: GitIdentity = { name: 'Conveyor', email: 'conveyor@localhost' };

export const DEFAULT_GIT_TIMEOUT_MS = 120_000;
const STDERR_TAIL_BYTES = 4000;

/** Variables that would point git at another repository or index (set when running inside a git hook). */
const INHERITED_GIT_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

/**
 * Forced for every git command in a job's worktree. The repository-local config git reads there is the
 * mirror's (and the worktree's own `config.worktree` in the mirror): written only by the factory and
 * bound read-only into the sandbox, so it is trusted and the settings git-config(1) lets run programs
 * (`core.sshCommand`, `credential.helper`, `diff.external`, `filter.*`, `merge.*.driver`, `gpg.program`,
 * `core.pager`, `core.editor`, aliases, …) are the factory's own. These overrides cover what the
 * attack on the `.git` file used, and the nested repositories a worktree may hold (their config is the
 * agent's): hooks (`commit --no-verify` still runs `post-commit`), fsmonitor (run by `add` and
 * `status`) and the child git a diff or status runs in a submodule.
 */
export const WORKTREE_CONFIG: readonly string[] = [
  ...['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'],
  // `dirty`: a nested repository's commit still counts as a change, its files are never examined.
  ...['-c', 'submodule.recurse=false', '-c', 'diff.ignoreSubmodules=dirty'],
];

/**
 * The excludes file of the worktree whose git directory is `gitDir` (bound read-only into the sandbox):
 * the paths its setup created (`setup.ts`); it may not exist (nothing excluded). A worktree's git reads
 * it as `core.excludesFile`, in place of the user's global excludes file, so a job's change is the same
 * on every factory.
 */
export function setupExcludesFile(gitDir: string): string {
  return join(gitDir, 'conveyor-setup-excludes');
}

/** The arguments that point git at `options.gitDir` and `options.workTree`, hardened; none without a `gitDir`. */
function locationArgs(options: GitOptions): string[] {
  if (options.gitDir === undefined) return [];
  const workTree = options.workTree === undefined ? [] : [`--work-tree=${options.workTree}`];
  return [
    ...WORKTREE_CONFIG,
    '-c',
    `core.excludesFile=${setupExcludesFile(options.gitDir)}`,
    `--git-dir=${options.gitDir}`,
    ...workTree,
  ];
}

/** The environment variables that make commits by `identity`. */
export function identityEnv(identity: GitIdentity): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: identity.name,
    GIT_AUTHOR_EMAIL: identity.email,
    GIT_COMMITTER_NAME: identity.name,
    GIT_COMMITTER_EMAIL: identity.email,
  };
}

function childEnv(extra: Record<string, string> | undefined): Record<string, string> {
  // git needs PATH, HOME and credential helpers' variables: it starts from Conveyor's own environment.
  const env = Object.fromEntries(
    Object.entries(processEnvironment()).filter(([name]) => !INHERITED_GIT_VARS.includes(name)),
  );
  // C locale: the push-rejection messages we recognise are the English ones.
  return { ...env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', ...identityEnv(CONVEYOR_IDENTITY), ...extra };
}

/** Hides `user:token@` in URLs so credentials never reach an error message or a log. */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

export interface GitResult {
  stdout: string;
  /** Bytes git wrote to stdout (also when `stdout` was not kept). */
  stdoutBytes: number;
  stderr: string;
  exitCode: number;
}

function failure(args: readonly string[], options: GitOptions, detail: string, extra: Partial<GitError>): GitError {
  const command = redactUrls(`git ${args.join(' ')}`);
  return new GitError(
    `${command} failed in ${options.cwd}: ${redactUrls(detail)}`,
    args.map(redactUrls),
    options.cwd,
    extra.exitCode ?? null,
    redactUrls(extra.stderr ?? ''),
    extra.timedOut ?? false,
    extra.cause === undefined ? undefined : { cause: extra.cause },
  );
}

/** Runs git, keeping at most `keepBytes` of its stdout (all of it counted in `stdoutBytes`). */
async function run(args: readonly string[], options: GitOptions, keepBytes: number): Promise<GitResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  // In its own process group, so a timeout also kills what git started (ssh, credential helpers, aliases).
  const result = await runProcess({
    file: 'git',
    args: [...locationArgs(options), ...args],
    cwd: options.cwd,
    env: childEnv(options.env),
    ...(options.input === undefined ? {} : { stdin: options.input }),
    timeoutMs,
    // git gets no grace: a timed-out fetch or push is not waited for.
    killGraceMs: 0,
    tailBytes: STDERR_TAIL_BYTES,
    stdoutHeadBytes: keepBytes,
  });
  const stderr = result.stderrTail;
  if (result.timedOut) throw failure(args, options, `timed out after ${timeoutMs} ms`, { stderr, timedOut: true });
  if (result.error !== undefined && result.pid === undefined) {
    throw failure(args, options, `could not run git: ${result.error}`, { cause: result.cause });
  }
  if (result.exitCode === null) throw failure(args, options, `killed by ${result.signal ?? 'a signal'}`, { stderr });
  return { stdout: result.stdout, stdoutBytes: result.stdoutBytes, stderr, exitCode: result.exitCode };
}

/** Runs git and resolves with its outcome whatever the exit code; rejects only if it could not run or timed out. */
export function gitResult(args: readonly string[], options: GitOptions): Promise<GitResult> {
  return run(args, options, Infinity);
}

/** `result` when git exited 0; otherwise the `GitError` for it. */
export function ensureSuccess(args: readonly string[], options: GitOptions, result: GitResult): GitResult {
  if (result.exitCode === 0) return result;
  const tail = result.stderr.trim().split('\n').slice(-5).join(' | ') || '(no output)';
  throw failure(args, options, `exit ${result.exitCode}: ${tail}`, {
    exitCode: result.exitCode,
    stderr: result.stderr,
  });
}

/** Runs git and resolves with its stdout; throws `GitError` (command, exit code, stderr tail) on failure. */
export async function git(args: readonly string[], options: GitOptions): Promise<string> {
  return ensureSuccess(args, options, await run(args, options, Infinity)).stdout;
}

/** Runs git and resolves with the number of bytes it wrote to stdout, without holding them in memory. */
export async function gitOutputBytes(args: readonly string[], options: GitOptions): Promise<number> {
  return ensureSuccess(args, options, await run(args, options, 0)).stdoutBytes;
}

/** The first `maxBytes` of git's stdout (cut at a line end when it is cut) and the size of all of it. */
export async function gitOutputHead(
  args: readonly string[],
  options: GitOptions,
  maxBytes: number,
): Promise<{ text: string; bytes: number; truncated: boolean }> {
  const result = ensureSuccess(args, options, await run(args, options, maxBytes));
  const truncated = result.stdoutBytes > maxBytes;
  // A cut mid-character or mid-line would show garbage: keep whole lines only.
  const text = truncated ? result.stdout.slice(0, result.stdout.lastIndexOf('\n') + 1) : result.stdout;
  return { text, bytes: result.stdoutBytes, truncated };
}

/** The commit `rev` names in `cwd`, or undefined when it names none. */
export async function tryRevParse(rev: string, cwd: string): Promise<string | undefined> {
  const result = await gitResult(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], { cwd });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}
