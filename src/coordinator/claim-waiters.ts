/**
 * Long-poll support for `POST /api/fleet/claim` with `waitMs`: waiters park per product and are woken
 * by the store's signals (a commit in this process, or NOTIFY from another coordinator).
 */
import type { Store } from '../store/store.js';

/** Re-check at least this often, for jobs that become due by time (backoff) rather than by a signal. */
const RECHECK_MS = 1000;

export class ClaimWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;

  constructor(store: Store) {
    this.unsubscribe = store.onSignal((signal) => {
      if (signal.kind === 'jobs') this.wake(signal.product);
    });
  }

  private wake(product: string): void {
    const set = this.waiting.get(product);
    if (set === undefined) return;
    this.waiting.delete(product);
    for (const resolve of set) resolve();
  }

  /**
   * Arms a waiter before the caller tries to claim, so a job committed between the failed claim and
   * the wait is not missed. `wait` resolves on a signal, after `ms`, or when `abort` fires.
   */
  arm(product: string): { wait(ms: number, abort: AbortSignal): Promise<void>; disarm(): void } {
    let fired = false;
    let resolveWait: (() => void) | undefined;
    const onSignal = (): void => {
      fired = true;
      resolveWait?.();
    };
    let set = this.waiting.get(product);
    if (set === undefined) {
      set = new Set();
      this.waiting.set(product, set);
    }
    set.add(onSignal);
    const disarm = (): void => {
      this.waiting.get(product)?.delete(onSignal);
    };
    return {
      disarm,
      wait: (ms, abort) =>
        new Promise<void>((resolve) => {
          if (fired || abort.aborted) {
            disarm();
            resolve();
            return;
          }
          const done = (): void => {
            clearTimeout(timer);
            abort.removeEventListener('abort', done);
            disarm();
            resolve();
          };
          const timer = setTimeout(done, Math.min(ms, RECHECK_MS));
          abort.addEventListener('abort', done);
          resolveWait = done;
        }),
    };
  }

  close(): void {
    this.unsubscribe();
    for (const product of [...this.waiting.keys()]) this.wake(product);
  }
}
