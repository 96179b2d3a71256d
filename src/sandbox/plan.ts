/**
 * Whether commands can be confined on this machine, and how: bubblewrap with its own mount, PID, IPC
 * and (unless asked otherwise) network namespaces. A factory that is not root runs an unprivileged
 * bubblewrap in a user namespace of its own. A root factory's command drops to uid 65534 with `setpriv`
 * inside the sandbox, with no capabilities left: a uid that bubblewrap maps in a user namespace started
 * by root is still root on the host's files (it reads `/etc/shadow`), uid 65534 is not. Probed once
 * per process and binary.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { runProcess } from '../process/run.js';

/** `auto`: confined when the machine allows, else unconfined with a notice; `required`: confined or not run; `off`: never. */
export type SandboxMode = 'auto' | 'required' | 'off';

/** The uid and gid a root factory's sandboxed commands run as (`nobody`). */
export const SANDBOX_ID = 65534;

/** How a runtime's commands run. */
export type SandboxPlan =
  /** `setpriv` is set when the factory runs as root: the command drops to `SANDBOX_ID` with it. */
  | { kind: 'bwrap'; bwrap: string; setpriv?: string }
  /** `notice` is set when the run wanted a sandbox (`auto`) and could not have one. */
  | { kind: 'direct'; notice?: string }
  /** `required` and the sandbox does not work: the run must not start. */
  | { kind: 'refused'; summary: string };

/** A plan a command can run under. */
export type ActivePlan = Exclude<SandboxPlan, { kind: 'refused' }>;

/** Used to find `bwrap` when the run's environment has no `PATH`. */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const INSTALL_HINT =
  'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap; Arch: pacman -S bubblewrap) and make sure unprivileged user namespaces are enabled, or set the sandbox to "auto" or "off"';

/** The namespace flags of a sandbox under `plan` (without the network's, which the caller decides); the probe uses the same. */
export function isolation(plan: { setpriv?: string }): string[] {
  // Root's bubblewrap needs no user namespace: the command itself becomes unprivileged (`dropArgs`).
  const user = plan.setpriv === undefined ? ['--unshare-user'] : [];
  return [...user, '--unshare-pid', '--unshare-ipc', '--die-with-parent', '--new-session'];
}

type Probe = { ok: true; bwrap: string; setpriv?: string } | { ok: false; reason: string };
const probes = new Map<string, Promise<Probe>>();

/** Decides how a run's commands execute, probing the sandbox (once per process and binary) when needed. */
export async function planSandbox(mode: SandboxMode, env: Readonly<Record<string, string>>): Promise<SandboxPlan> {
  if (mode === 'off') return { kind: 'direct' };
  const probe = await probeBubblewrap(env.PATH ?? FALLBACK_PATH);
  if (probe.ok)
    return { kind: 'bwrap', bwrap: probe.bwrap, ...(probe.setpriv === undefined ? {} : { setpriv: probe.setpriv }) };
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

/** Finds `bwrap` (and, as root, `setpriv`) on `path` and checks, once per binary, that it can start a sandbox here. */
export function probeBubblewrap(path: string): Promise<Probe> {
  return (async () => {
    if (process.platform !== 'linux')
      return { ok: false, reason: `bubblewrap needs Linux (this is ${process.platform})` };
    const bwrap = await findExecutable('bwrap', path);
    if (bwrap === undefined) return { ok: false, reason: 'bwrap was not found on PATH' };
    let setpriv: string | undefined;
    if (process.getuid?.() === 0) {
      setpriv = await findExecutable('setpriv', path);
      if (setpriv === undefined) {
        return {
          ok: false,
          reason: 'setpriv (util-linux) was not found on PATH: a root factory drops to uid 65534 with it',
        };
      }
    }
    const key = `${setpriv ?? ''}\0${bwrap}`;
    let probe = probes.get(key);
    if (probe === undefined) {
      probe = runProbe(bwrap, setpriv);
      probes.set(key, probe);
    }
    return probe;
  })();
}

/** The command that runs `command` as `SANDBOX_ID` with no groups and no capabilities (from root); `command` itself without `setpriv`. */
export function dropped(setpriv: string | undefined, command: readonly string[]): string[] {
  if (setpriv === undefined) return [...command];
  const drop = [
    `--reuid=${SANDBOX_ID}`,
    `--regid=${SANDBOX_ID}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
  ];
  return [setpriv, ...drop, '--', ...command];
}

async function runProbe(bwrap: string, setpriv: string | undefined): Promise<Probe> {
  const sandbox = [
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    ...isolation({ ...(setpriv === undefined ? {} : { setpriv }) }),
    '--unshare-net',
  ];
  const result = await runProcess({
    file: bwrap,
    args: [...sandbox, ...dropped(setpriv, ['true'])],
    cwd: '/',
    env: {},
    timeoutMs: 10_000,
  });
  if (result.exitCode === 0) return { ok: true, bwrap, ...(setpriv === undefined ? {} : { setpriv }) };
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
