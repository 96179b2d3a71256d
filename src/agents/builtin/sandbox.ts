/**
 * Where the builtin agent's `run` commands execute: inside bubblewrap when the machine allows it
 * (the worktree read-write, the rest of the filesystem read-only, `/tmp` fresh, home directories and
 * secret locations hidden, no network, own pid namespace), otherwise directly, and the run says so.
 */
import { constants, existsSync, readFileSync, statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { SandboxMode } from '../executor.js';
import { runProcess, type ProcessCommand } from '../../process/run.js';
import { isInside } from './paths.js';

/** How commands run for one agent run. */
export type SandboxPlan =
  | { kind: 'bwrap'; bwrap: string }
  /** `notice` is set when the run wanted a sandbox (`auto`) and could not have one. */
  | { kind: 'direct'; notice?: string }
  /** `required` and bubblewrap does not work: the run must not start. */
  | { kind: 'refused'; summary: string };

/** Used to find `bwrap` when the run's environment has no `PATH`. */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const INSTALL_HINT =
  'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap; Arch: pacman -S bubblewrap) and make sure unprivileged user namespaces are enabled, or set the sandbox to "auto" or "off"';

/** The namespace flags every sandboxed command gets; the probe uses the same ones. */
const ISOLATION = ['--unshare-net', '--unshare-pid', '--unshare-ipc', '--die-with-parent', '--new-session'];

/**
 * Secret locations outside home directories (home directories are hidden whole). Directories get an
 * empty tmpfs, files and sockets `/dev/null`.
 */
const SECRET_PATHS = ['/run/secrets', '/var/run/secrets', '/run/docker.sock', '/var/run/docker.sock', '/etc/ssh'];

type Probe = { ok: true; bwrap: string } | { ok: false; reason: string };
const probes = new Map<string, Promise<Probe>>();

/** Decides how a run's commands execute, probing bubblewrap (once per process and binary) when needed. */
export async function planSandbox(mode: SandboxMode, env: Readonly<Record<string, string>>): Promise<SandboxPlan> {
  if (mode === 'off') return { kind: 'direct' };
  const probe = await probeBubblewrap(env.PATH ?? FALLBACK_PATH);
  if (probe.ok) return { kind: 'bwrap', bwrap: probe.bwrap };
  if (mode === 'required') {
    return {
      kind: 'refused',
      summary: `the sandbox is required but bubblewrap cannot be used: ${probe.reason}; ${INSTALL_HINT}`,
    };
  }
  return {
    kind: 'direct',
    notice: `commands run without a sandbox: ${probe.reason}; the agent's commands can reach the network and every file this user can. To sandbox them, ${INSTALL_HINT.replace(/, or set.*$/, '')}`,
  };
}

/** Finds `bwrap` on `path` and checks, once per binary, that it can start a sandbox here. */
export function probeBubblewrap(path: string): Promise<Probe> {
  return (async () => {
    if (process.platform !== 'linux')
      return { ok: false, reason: `bubblewrap needs Linux (this is ${process.platform})` };
    const bwrap = await findExecutable('bwrap', path);
    if (bwrap === undefined) return { ok: false, reason: 'bwrap was not found on PATH' };
    let probe = probes.get(bwrap);
    if (probe === undefined) {
      probe = runProbe(bwrap);
      probes.set(bwrap, probe);
    }
    return probe;
  })();
}

async function runProbe(bwrap: string): Promise<Probe> {
  const result = await runProcess({
    file: bwrap,
    args: ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', ...ISOLATION, 'true'],
    cwd: '/',
    env: {},
    timeoutMs: 10_000,
  });
  if (result.exitCode === 0) return { ok: true, bwrap };
  const why = (result.error ?? result.stderrTail.trim()) || `exit code ${String(result.exitCode)}`;
  return { ok: false, reason: `${bwrap} does not work here (${why.split('\n')[0] ?? why})` };
}

async function findExecutable(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; next PATH entry
    }
  }
  return undefined;
}

/** What `runProcess` runs for `command` under `plan` (a `bwrap` invocation, or the shell directly). */
export function sandboxedCommand(
  plan: Exclude<SandboxPlan, { kind: 'refused' }>,
  worktree: string,
  command: string,
  env: Readonly<Record<string, string>>,
): ProcessCommand {
  if (plan.kind === 'direct') return { command, shell: true };
  return { file: plan.bwrap, args: [...bwrapArgs(worktree, env), '--', '/bin/sh', '-c', command] };
}

/**
 * bubblewrap's arguments. Order matters: later mounts cover earlier ones, so the worktree (and its git
 * directory, read-only) is bound last and stays reachable even under a hidden home or `/tmp`.
 */
export function bwrapArgs(worktree: string, env: Readonly<Record<string, string>>): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  const homes = new Set([homedir(), '/root', ...(env.HOME !== undefined && isAbsolute(env.HOME) ? [env.HOME] : [])]);
  for (const path of [...homes, ...SECRET_PATHS]) {
    // `/tmp` is already fresh, and nothing inside the worktree is hidden from the agent.
    if (path === '/' || path === '/tmp' || isInside(worktree, path)) continue;
    const kind = kindOf(path);
    if (kind === 'dir') args.push('--tmpfs', path);
    else if (kind === 'other') args.push('--ro-bind', '/dev/null', path);
  }
  args.push('--bind', worktree, worktree);
  for (const dir of gitDirs(worktree)) {
    if (!isInside(worktree, dir)) args.push('--ro-bind', dir, dir);
  }
  args.push(...ISOLATION, '--chdir', worktree);
  return args;
}

function kindOf(path: string): 'dir' | 'other' | undefined {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined;
  }
}

/**
 * A linked worktree's `.git` is a file naming its git directory (and that one's common directory)
 * elsewhere; binding them read-only keeps `git status` and `git diff` working inside the sandbox.
 */
function gitDirs(worktree: string): string[] {
  try {
    const dotGit = join(worktree, '.git');
    if (statSync(dotGit).isDirectory()) return [];
    const match = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'));
    if (match?.[1] === undefined) return [];
    const gitDir = resolve(worktree, match[1].trim());
    const dirs = [gitDir];
    const commonFile = join(gitDir, 'commondir');
    if (existsSync(commonFile)) dirs.push(resolve(gitDir, readFileSync(commonFile, 'utf8').trim()));
    // The common directory holds the per-worktree one; binding the outermost is enough when nested.
    return dirs.filter((dir) => existsSync(dir) && !dirs.some((other) => other !== dir && isInside(other, dir)));
  } catch {
    return [];
  }
}
