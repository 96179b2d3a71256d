/**
 * Long-poll support for `POST /api/fleet/claim` with `waitMs`: a parked claim waits here until a job it
 * could take exists. Parked claims do not re-run the claim query themselves: per product, one shared
 * check (`Store.claimableByCapabilities`, a grouped count of the due queued jobs) runs after each of the
 * store's `jobs` signals (a commit in this process, or NOTIFY from another coordinator) and every
 * RECHECK_MS (jobs that become due by time, a NOTIFY that was lost), and wakes only waiters whose
 * capabilities cover a claimable job, at most as many per capability set as it has jobs. So 500 parked
 * claims over a queue none of them can take cost one query a second, not 500. A submission in this
 * process says what its job needs, and wakes one suitable waiter at once, without the check.
 */
import type { Store } from '../store/store.js';

/** Check at least this often, for jobs that become due by time (backoff) rather than by a signal. */
const RECHECK_MS = 1000;
/**
 * After a check that took `d` ms, the next signal-triggered one waits until `d × CHECK_GAP_FACTOR` ms
 * have passed since it ended: under a stream of commits, checks take at most a third of the event loop.
 */
const CHECK_GAP_FACTOR = 2;

interface Waiter {
  capabilities: ReadonlySet<string>;
  fired: boolean;
  fire(): void;
}

interface ProductWaiters {
  waiters: Set<Waiter>;
  /** A check is running; `again` asks for another once it ends (a signal came meanwhile). */
  checking: boolean;
  again: boolean;
  /** When the last check ended and how long it took (for the gap before the next). */
  lastEnd: number;
  lastMs: number;
  /** A signal-triggered check waiting for its gap to pass. */
  delayed: NodeJS.Timeout | undefined;
  /** Counts jobs signals, so a check knows whether one came while it ran. */
  signals: number;
  /** What the last check found, while no signal came since it started (undefined: unknown). */
  snapshot: { claimable: readonly { capabilities: string[]; jobs: number }[]; at: number } | undefined;
  ticker: NodeJS.Timeout;
}

export interface ArmedWaiter {
  /**
   * False when the product's last check, made less than RECHECK_MS ago with no commit since, found no
   * job this waiter could take: a parked claim then waits without running its own claim query.
   */
  mayClaim(): boolean;
  /** Resolves when a matching job may be claimable, after `ms`, or when `abort` fires. */
  wait(ms: number, abort: AbortSignal): Promise<void>;
  disarm(): void;
}

export class ClaimWaiters {
  private readonly products = new Map<string, ProductWaiters>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly store: Store) {
    this.unsubscribe = store.onSignal((signal) => {
      if (signal.kind !== 'jobs') return;
      const entry = this.products.get(signal.product);
      if (entry === undefined) return;
      entry.signals++;
      entry.snapshot = undefined;
      // A submission names what it needs: one parked claim that suits it is woken without the product's
      // check (a query's round trip). Should that claim leave without it, the next check finds the job.
      // Not while a check runs: it may have seen the job already, and would wake a second claim for it.
      const { submitted } = signal;
      if (submitted !== undefined && !entry.checking && wake(entry, submitted.capabilities, 1) === 1) return;
      this.requestCheck(signal.product);
    });
  }

  /**
   * Arms a waiter before the caller tries to claim, so a job committed between the failed claim and
   * the wait is not missed: the check that commit triggers sees this waiter and fires it.
   */
  arm(product: string, capabilities: readonly string[]): ArmedWaiter {
    let resolveWait: (() => void) | undefined;
    const waiter: Waiter = {
      capabilities: new Set(capabilities),
      fired: false,
      fire: () => {
        waiter.fired = true;
        resolveWait?.();
      },
    };
    if (this.closed) {
      return { disarm: () => undefined, mayClaim: () => true, wait: () => Promise.resolve() };
    }
    const entry = this.products.get(product) ?? this.startProduct(product);
    entry.waiters.add(waiter);
    const disarm = (): void => {
      entry.waiters.delete(waiter);
      if (entry.waiters.size === 0 && this.products.get(product) === entry) this.stopProduct(product, entry);
    };
    return {
      disarm,
      mayClaim: () => {
        const snapshot = entry.snapshot;
        if (snapshot === undefined || performance.now() - snapshot.at >= RECHECK_MS) return true;
        return snapshot.claimable.some((set) => set.capabilities.every((c) => waiter.capabilities.has(c)));
      },
      wait: (ms, abort) =>
        new Promise<void>((resolve) => {
          if (waiter.fired || abort.aborted) {
            disarm();
            resolve();
            return;
          }
          const done = (): void => {
            clearTimeout(timer);
            abort.removeEventListener('abort', done);
            resolveWait = undefined;
            disarm();
            resolve();
          };
          const timer = setTimeout(done, ms);
          abort.addEventListener('abort', done);
          resolveWait = done;
        }),
    };
  }

  /** Waiters armed now, across products. */
  get size(): number {
    let count = 0;
    for (const entry of this.products.values()) count += entry.waiters.size;
    return count;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const [product, entry] of [...this.products]) {
      for (const waiter of [...entry.waiters]) waiter.fire();
      this.stopProduct(product, entry);
    }
  }

  private startProduct(product: string): ProductWaiters {
    const entry: ProductWaiters = {
      waiters: new Set(),
      checking: false,
      again: false,
      lastEnd: 0,
      lastMs: 0,
      delayed: undefined,
      signals: 0,
      snapshot: undefined,
      ticker: setInterval(() => {
        void this.check(product, entry);
      }, RECHECK_MS),
    };
    entry.ticker.unref();
    this.products.set(product, entry);
    // A first snapshot soon, so the claims that park next can skip their own query.
    queueMicrotask(() => {
      void this.check(product, entry);
    });
    return entry;
  }

  private stopProduct(product: string, entry: ProductWaiters): void {
    clearInterval(entry.ticker);
    clearTimeout(entry.delayed);
    entry.delayed = undefined;
    this.products.delete(product);
  }

  /** A commit may have made a job claimable: check soon (now, unless the last check just ended). */
  private requestCheck(product: string): void {
    const entry = this.products.get(product);
    if (entry === undefined || entry.delayed !== undefined) return;
    const gap = entry.lastEnd + entry.lastMs * CHECK_GAP_FACTOR - performance.now();
    if (gap <= 0) {
      void this.check(product, entry);
      return;
    }
    entry.delayed = setTimeout(() => {
      entry.delayed = undefined;
      void this.check(product, entry);
    }, gap);
  }

  private async check(product: string, entry: ProductWaiters): Promise<void> {
    if (entry.checking) {
      entry.again = true;
      return;
    }
    entry.checking = true;
    const started = performance.now();
    const signals = entry.signals;
    try {
      const claimable = await this.store.claimableByCapabilities(product);
      entry.snapshot = entry.signals === signals ? { claimable, at: started } : undefined;
      this.wakeMatching(entry, claimable);
    } catch {
      entry.snapshot = undefined;
      // Cannot tell who could claim: let every waiter try (its claim meets the error and answers it).
      for (const waiter of [...entry.waiters]) waiter.fire();
    } finally {
      entry.checking = false;
      entry.lastEnd = performance.now();
      entry.lastMs = entry.lastEnd - started;
    }
    if (entry.again && this.products.get(product) === entry) {
      entry.again = false;
      this.requestCheck(product);
    }
  }

  /** Fires, per claimable capability set, up to its number of jobs of the waiters it suits (oldest first). */
  private wakeMatching(entry: ProductWaiters, claimable: readonly { capabilities: string[]; jobs: number }[]): void {
    for (const { capabilities, jobs } of claimable) wake(entry, capabilities, jobs);
  }
}

/** Fires up to `count` of the waiters `capabilities` suit, oldest first; how many it fired. */
function wake(entry: ProductWaiters, capabilities: readonly string[], count: number): number {
  let fired = 0;
  for (const waiter of [...entry.waiters]) {
    if (fired >= count) break;
    if (waiter.fired) continue;
    if (capabilities.every((c) => waiter.capabilities.has(c))) {
      waiter.fire();
      fired++;
    }
  }
  return fired;
}
