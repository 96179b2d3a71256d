/**
 * Group commit for PostgreSQL's fast paths: calls that arrive while the database is busy with earlier
 * ones wait, and then go together as one statement (one round trip, one transaction, one WAL flush)
 * instead of one each. A call that finds the database idle still goes at once, alone, by the
 * one-item statement, so a quiet coordinator pays no latency for it.
 */

/** How the calls of one kind are sent: alone, or as one batch. */
export interface BatchStatements<I, O> {
  /** Whether `item` may go in one statement with `batch` (the same kind of claim, room left). */
  fits(batch: readonly I[], item: I): boolean;
  /**
   * Calls with the same key (a move's job) run one after the other, in the order they were made, as
   * they would one at a time: never two in one statement, nor in two statements at once.
   */
  key?(item: I): string;
  /** One call alone, by its own statement. */
  one(item: I): Promise<O>;
  /** Several calls in one statement: an answer per item, in their order. */
  many(items: readonly I[]): Promise<O[]>;
}

interface Waiting<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Statements in flight at once, per kind: the calls that arrive meanwhile gather into the next batch.
 * On the store drain (`bench/section-store.ts`), 1 to 8 measured the same within noise; two lets one
 * batch run while another waits for its commit to reach the disk.
 */
const MAX_IN_FLIGHT = 2;

export class StatementBatcher<I, O> {
  private readonly queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  /** Keys of the calls in flight. */
  private readonly busy = new Set<string>();
  private scheduled = false;

  constructor(private readonly statements: BatchStatements<I, O>) {}

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * One event-loop turn after the first call, so the calls read from every socket in that turn (or
   * made by every caller a finished batch answered) go together.
   */
  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
        const batch = this.take();
        if (batch.length === 0) return;
        void this.send(batch);
      }
    });
  }

  /**
   * The first waiting call that may go and every later one that fits with it, in arrival order; none
   * when every waiting call's key is in flight.
   */
  private take(): Waiting<I, O>[] {
    const batch: Waiting<I, O>[] = [];
    const items: I[] = [];
    const rest: Waiting<I, O>[] = [];
    const held = new Set(this.busy);
    for (const waiting of this.queue) {
      const key = this.statements.key?.(waiting.item);
      const free = key === undefined || !held.has(key);
      if (free && (batch.length === 0 || this.statements.fits(items, waiting.item))) {
        batch.push(waiting);
        items.push(waiting.item);
      } else {
        rest.push(waiting);
      }
      // A later call with this key waits for this one.
      if (key !== undefined) held.add(key);
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }

  private async send(batch: Waiting<I, O>[]): Promise<void> {
    this.inFlight++;
    const keys = batch.flatMap((waiting) => this.statements.key?.(waiting.item) ?? []);
    for (const key of keys) this.busy.add(key);
    try {
      const [first] = batch;
      if (batch.length === 1 && first !== undefined) {
        await this.settle(first, () => this.statements.one(first.item));
        return;
      }
      let answers: O[];
      try {
        answers = await this.statements.many(batch.map((waiting) => waiting.item));
      } catch {
        // One call's fault (a value the database refuses, a deadlock with another coordinator) must not
        // fail the others: each goes again alone, and meets its own outcome.
        await Promise.all(batch.map((waiting) => this.settle(waiting, () => this.statements.one(waiting.item))));
        return;
      }
      batch.forEach((waiting, i) => {
        waiting.resolve(answers[i] as O);
      });
    } finally {
      this.inFlight--;
      for (const key of keys) this.busy.delete(key);
      this.schedule();
    }
  }

  private async settle(waiting: Waiting<I, O>, call: () => Promise<O>): Promise<void> {
    try {
      waiting.resolve(await call());
    } catch (error) {
      waiting.reject(error);
    }
  }
}
