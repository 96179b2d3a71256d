/**
 * Process groups started by `runProcess`, tracked so that none outlives Conveyor: on the process's
 * `exit` event every group still running is sent SIGKILL. Node does not emit `exit` when it dies of a
 * signal it has no handler for (SIGINT, SIGTERM), and our children sit in their own process groups, so
 * a terminal's Ctrl-C does not reach them: a long-running process (the factory) should handle those
 * signals and call `killAllProcessGroups` (or exit through `process.exit`, which emits `exit`).
 */
const running = new Set<number>();
let hooked = false;

/** Sends `signal` to every process in group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    // ESRCH: the group is gone. EPERM: a pid reused by someone else's group; not ours to touch.
    if (isErrno(error, 'ESRCH') || isErrno(error, 'EPERM')) return false;
    throw error;
  }
}

export function trackGroup(pgid: number): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      killAllProcessGroups('SIGKILL');
    });
  }
  running.add(pgid);
}

export function untrackGroup(pgid: number): void {
  running.delete(pgid);
}

/** Process group ids started by `runProcess` that have not finished yet. */
export function runningProcessGroups(): number[] {
  return [...running];
}

/** Signals every tracked process group (synchronous, so it is safe in an `exit` handler). */
export function killAllProcessGroups(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pgid of running) signalGroup(pgid, signal);
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
