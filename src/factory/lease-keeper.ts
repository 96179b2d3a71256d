/**
 * Keeps one lease alive while a job runs: renews every TTL/3, and fires `fenced` the moment the
 * coordinator answers 409 to anything about this job, so the runner stops at once.
 */
import type { FleetClient, FleetOutcome } from './fleet-client.js';

export class LeaseKeeper {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  /** The renewal the timer started last, while it is under way. */
  private renewing: Promise<boolean> | undefined;
  /** Why the lease was lost, once it was. */
  fencedBy: string | undefined;
  /** Set once a renew could not reach the coordinator: a later fence then orphans the work done meanwhile. */
  sawOutage = false;

  constructor(
    private readonly client: FleetClient,
    readonly jobId: string,
    readonly leaseEpoch: number,
    private readonly renewEveryMs: number,
    private readonly log: (message: string) => void,
  ) {}

  /** Aborts when the lease is lost (or the factory stops the job). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.renewing = this.renew().finally(() => {
        this.renewing = undefined;
      });
    }, this.renewEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Stops renewing and waits for a renewal already under way: before the report that ends the lease
   * (shipped), so no renewal reaches the coordinator after it and is refused.
   */
  async settle(): Promise<void> {
    this.stop();
    await this.renewing;
  }

  abort(reason: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(new Error(reason));
  }

  /** Renews now; false when the lease is gone. An unreachable coordinator is not a lost lease. */
  async renew(): Promise<boolean> {
    return this.check(await this.client.renew(this.jobId, this.leaseEpoch));
  }

  /** Looks at any answer about this job; a 409 fences the run. */
  check<T>(outcome: FleetOutcome<T>): boolean {
    if (outcome.kind === 'unreachable') this.sawOutage = true;
    if (outcome.kind === 'fenced') {
      this.fencedBy ??= outcome.message;
      this.log(`fenced: ${outcome.message}`);
      this.abort(`fenced: ${outcome.message}`);
      return false;
    }
    return true;
  }
}
