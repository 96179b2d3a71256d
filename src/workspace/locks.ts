/** One lock per path, in process: work on the same mirror or worktree path runs one piece at a time. */
import { resolve } from 'node:path';

export class PathLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` once every earlier `withLock` on the same path has settled. Not re-entrant. */
  async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const path = resolve(key);
    const previous = this.#tails.get(path) ?? Promise.resolve();
    const mine = previous.then(() => fn());
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(path, tail);
    try {
      return await mine;
    } finally {
      // Forget the path once nobody queued behind us, so the map does not grow with every job.
      if (this.#tails.get(path) === tail) this.#tails.delete(path);
    }
  }

  /** Paths with work running or queued (for diagnostics and tests). */
  get size(): number {
    return this.#tails.size;
  }
}

/** The process-wide locks every workspace function uses unless given others. */
export const defaultLocks = new PathLocks();
