/**
 * Running one command confined (DESIGN §8): the worktree writable, the rest of the filesystem
 * read-only, home directories and secret locations hidden, `/tmp` fresh, its own PID (and, unless
 * kept, network) namespace, and — for a root factory — as uid `SANDBOX_ID` with no capabilities, which
 * owns the worktree for the time of the command only.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, sep } from 'node:path';
import { withGitConfig } from '../process/git-config-env.js';
import { runProcess, type ProcessCommand, type ProcessOptions, type ProcessResult } from '../process/run.js';
import { dropped, isolation, SANDBOX_ID, type ActivePlan } from './plan.js';

/** What a confined command may see and touch besides the read-only system. */
export interface Confinement {
  /** The worktree's real path: writable, the working directory. */
  worktree: string;
  /** Bound read-only even where a hidden home or the fresh `/tmp` covers them (the worktree's git directory and mirror, a task file's directory). @default [] */
  readOnly?: readonly string[];
  /** Bound writable (a CLI agent's own home and state). @default [] */
  writable?: readonly string[];
  /**
   * Bound writable and shared by commands that may run at the same time (the factory's setup cache):
   * never handed over and back like `writable`, so make them with `makeSharedDir`. @default []
   */
  shared?: readonly string[];
  /** Keep the host's network (a CLI agent reaches its model endpoint). @default false: no network */
  network?: boolean;
}

/**
 * Makes `dir` (and its parents) for `Confinement.shared`: under a root factory's sandbox it belongs to
 * `SANDBOX_ID`, which the commands run as, so they can write it whoever ran before.
 */
export async function makeSharedDir(plan: ActivePlan, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (plan.kind === 'bwrap' && plan.setpriv !== undefined) await chown(`${SANDBOX_ID}:${SANDBOX_ID}`, [dir], false);
}

/**
 * Secret locations outside home directories (home directories are hidden whole). Directories get an
 * empty tmpfs, files and sockets `/dev/null`.
 */
const SECRET_PATHS = ['/run/secrets', '/var/run/secrets', '/run/docker.sock', '/var/run/docker.sock', '/etc/ssh'];

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * bubblewrap's arguments under `plan`. Order matters: later mounts cover earlier ones, so what is bound
 * last (the worktree, the read-only and writable extras) stays reachable even under a hidden home or
 * `/tmp`; the directories bubblewrap makes on the way there are searchable by every uid.
 */
export function bwrapArgs(
  plan: { setpriv?: string },
  confinement: Confinement,
  env: Readonly<Record<string, string>>,
): string[] {
  const { worktree } = confinement;
  // `/tmp` is writable by every uid (sticky, as on the host): a root factory's command runs as `SANDBOX_ID`.
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--perms', '1777', '--tmpfs', '/tmp'];
  const fresh = ['/tmp'];
  const homes = new Set([homedir(), '/root', ...(env.HOME !== undefined && isAbsolute(env.HOME) ? [env.HOME] : [])]);
  for (const path of [...homes, ...SECRET_PATHS]) {
    // `/tmp` is already fresh, and nothing inside the worktree is hidden from the agent.
    if (path === '/' || path === '/tmp' || isInside(worktree, path)) continue;
    const kind = kindOf(path);
    if (kind === 'dir') {
      args.push('--tmpfs', path);
      fresh.push(path);
    } else if (kind === 'other') args.push('--ro-bind', '/dev/null', path);
  }
  const made = new Set<string>();
  const bind = (flag: string, dir: string): void => {
    for (const parent of parentsWithin(fresh, dir)) {
      if (!made.has(parent)) args.push('--perms', '0755', '--dir', parent);
      made.add(parent);
    }
    args.push(flag, dir, dir);
  };
  bind('--bind', worktree);
  for (const dir of confinement.readOnly ?? []) if (!isInside(worktree, dir)) bind('--ro-bind', dir);
  for (const dir of [...(confinement.writable ?? []), ...(confinement.shared ?? [])]) bind('--bind', dir);
  args.push(...isolation(plan), ...(confinement.network === true ? [] : ['--unshare-net']), '--chdir', worktree);
  return args;
}

/** The directories between the fresh (tmpfs) one holding `path` and `path`, outermost first. */
function parentsWithin(fresh: readonly string[], path: string): string[] {
  const root = fresh.find((dir) => dir !== path && isInside(dir, path));
  if (root === undefined) return [];
  const parents: string[] = [];
  for (let dir = dirname(path); dir !== root && isInside(root, dir); dir = dirname(dir)) parents.unshift(dir);
  return parents;
}

function kindOf(path: string): 'dir' | 'other' | undefined {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined;
  }
}

/**
 * Runs `command` under `plan`: directly, or in bubblewrap confined to `confinement`. Under a root
 * factory the worktree and the writable directories belong to `SANDBOX_ID` while the command runs and
 * are given back to their owners after it (`chown -R -P` never follows a symbolic link), so the
 * factory's git and tools find them as they left them.
 */
export async function runConfined(
  plan: ActivePlan,
  confinement: Confinement,
  command: ProcessCommand,
  options: ProcessOptions,
): Promise<ProcessResult> {
  // A missing working directory is a result `runProcess` reports before anything starts.
  if (plan.kind === 'direct' || !existsSync(options.cwd)) return runProcess({ ...command, ...options });
  const inner = 'command' in command ? ['/bin/sh', '-c', command.command] : [command.file, ...(command.args ?? [])];
  const args = [...bwrapArgs(plan, confinement, options.env), '--', ...dropped(plan.setpriv, inner)];
  const file = plan.bwrap;
  if (plan.setpriv === undefined) return runProcess({ file, args, ...options });
  const env = trustingWorktree(options.env, confinement.worktree);
  const owned = [confinement.worktree, ...(confinement.writable ?? [])];
  const owners = await Promise.all(owned.map(ownerOf));
  await chown(`${SANDBOX_ID}:${SANDBOX_ID}`, owned);
  try {
    return await runProcess({ file, args, ...options, env });
  } finally {
    await Promise.all(owned.map((path, i) => chown(owners[i] ?? '0:0', [path])));
  }
}

/**
 * `env` with git told (as command-line config, `GIT_CONFIG_*`) that the worktree is safe: its git
 * directory in the mirror belongs to the factory's user, not to `SANDBOX_ID`, and git refuses a
 * repository owned by someone else unless told so.
 */
function trustingWorktree(env: Readonly<Record<string, string>>, worktree: string): Record<string, string> {
  return withGitConfig(env, 'safe.directory', worktree);
}

async function ownerOf(path: string): Promise<string> {
  const { uid, gid } = await stat(path);
  return `${uid}:${gid}`;
}

async function chown(owner: string, paths: readonly string[], recursive = true): Promise<void> {
  const result = await runProcess({
    file: 'chown',
    args: [...(recursive ? ['-R', '-P'] : []), '-h', owner, '--', ...paths],
    cwd: '/',
    env: {},
  });
  if (result.exitCode !== 0)
    throw new Error(`chown${recursive ? ' -R' : ''} ${owner} ${paths.join(' ')} failed: ${result.stderrTail.trim()}`);
}
