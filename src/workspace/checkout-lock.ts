/**
 * Shipping into a branch checked out in the user's own repository changes their working tree, which
 * git does in steps (index and files, then the branch). Two factory processes must not do it at once,
 * and a factory killed half-way must not leave the checkout half-updated for good. So a ship into a
 * checkout holds `<git dir>/conveyor-ship.lock` (created exclusively, naming the process and the
 * fast-forward in flight), and whoever finds the lock of a dead process first repairs what that
 * fast-forward may have left: a stale `index.lock`, and the job's paths half-written.
 */
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShipContendedError } from './errors.js';
import { git, gitResult } from './git.js';

/** The fast-forward a holder is about to make: `from` (the branch tip it checked) to `to`. */
export interface ShipIntent {
  from: string;
  to: string;
}

interface LockRecord {
  pid: number;
  at: number;
  intent?: ShipIntent;
}

const LOCK = 'conveyor-ship.lock';
/** A dead holder's lock, set aside for repair: `conveyor-ship.lock.dead-<pid>-<at>`. */
const DEAD = '.dead-';
/** A fast-forward takes well under this; a lock older than it is stale whatever its pid says (pids are reused). */
const STALE_AFTER_MS = 120_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readRecord(file: string): Promise<LockRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockRecord;
  } catch {
    // Gone, or being written this instant: look again on the next round.
    return undefined;
  }
}

async function writeRecord(file: string, record: LockRecord, flag: 'wx' | 'w'): Promise<void> {
  const handle = await open(file, flag);
  try {
    await handle.writeFile(JSON.stringify(record));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Same content as `blob` in the repository at `path`? */
async function sameAsBlob(checkout: string, path: string, blob: string): Promise<boolean> {
  const hashed = await gitResult(['hash-object', '--', path], { cwd: checkout });
  return hashed.exitCode === 0 && hashed.stdout.trim() === blob;
}

/**
 * Puts the checkout back in the state the dead holder found it, when its fast-forward did not finish:
 * the branch still at `from`, the index reset to it, the job's changed paths restored from it, and the
 * files it added removed (only those whose content is exactly what the job wrote). When the branch
 * already reached `to`, the fast-forward finished and there is nothing to undo.
 */
export async function repairCheckout(checkout: string, gitDir: string, intent: ShipIntent): Promise<void> {
  const indexLock = join(gitDir, 'index.lock');
  await rm(indexLock, { force: true });
  const head = (await git(['rev-parse', 'HEAD'], { cwd: checkout })).trim();
  if (head !== intent.from) return;
  await git(['read-tree', intent.from], { cwd: checkout });
  const changed = await git(['diff-tree', '-r', '--no-renames', '-z', intent.from, intent.to], { cwd: checkout });
  // Records: ":<old mode> <new mode> <old blob> <new blob> <status>\0<path>\0".
  const fields = changed.split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [, , , newBlob = '', status = ''] = (fields[i] ?? '').split(' ');
    const path = fields[i + 1] ?? '';
    if (status === 'A') {
      if (await sameAsBlob(checkout, path, newBlob)) await rm(join(checkout, path), { force: true });
    } else {
      await git(['checkout', intent.from, '--', path], { cwd: checkout });
    }
  }
  await git(['update-index', '--refresh', '-q'], { cwd: checkout }).catch(() => undefined);
}

export interface CheckoutLock {
  /** Records the fast-forward about to be made, so a repair knows what to undo if this process dies. */
  intend(intent: ShipIntent): Promise<void>;
}

/**
 * Runs `work` holding the ship lock of the checkout at `checkout`: waits while a live process holds
 * it; the lock of a dead one is set aside (an atomic rename, so one process does it) and repaired by
 * whoever holds the lock next, before anything else touches the checkout. Gives up with
 * `ShipContendedError` after `waitMs`.
 */
export async function withCheckoutLock<T>(
  checkout: string,
  work: (lock: CheckoutLock) => Promise<T>,
  waitMs = 60_000,
): Promise<T> {
  const gitDir = (await git(['rev-parse', '--absolute-git-dir'], { cwd: checkout })).trim();
  const file = join(gitDir, LOCK);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await writeRecord(file, { pid: process.pid, at: Date.now() }, 'wx');
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const held = await readRecord(file);
    const age = held === undefined ? 0 : Date.now() - held.at;
    if (held !== undefined && (!alive(held.pid) || age > STALE_AFTER_MS)) {
      await rename(file, `${file}${DEAD}${String(held.pid)}-${String(held.at)}`).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new ShipContendedError(
        `cannot ship into ${checkout}: another Conveyor process (pid ${String(held?.pid ?? '?')}) has been shipping into it for ${String(Math.round(age / 1000))} s`,
      );
    }
    await sleep(25);
  }
  try {
    for (const name of await readdir(gitDir)) {
      if (!name.startsWith(`${LOCK}${DEAD}`)) continue;
      const dead = await readRecord(join(gitDir, name));
      if (dead?.intent !== undefined) await repairCheckout(checkout, gitDir, dead.intent);
      await rm(join(gitDir, name), { force: true });
    }
    return await work({
      intend: async (intent) => {
        await writeRecord(file, { pid: process.pid, at: Date.now(), intent }, 'w');
      },
    });
  } finally {
    await rm(file, { force: true });
  }
}
