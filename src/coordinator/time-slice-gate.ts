/**
 * Runs tasks one at a time, in the order they asked, and lets the event loop turn (I/O, timers, other
 * requests) whenever the tasks run since the last turn have held it for SLICE_MS. Work that is
 * synchronous underneath (better-sqlite3 reads, serialising a page of events) then delays a request
 * such as `/healthz` by about one slice, however many clients queue work at once.
 */
const SLICE_MS = 10;

export class TimeSliceGate {
  private tail: Promise<unknown> = Promise.resolve();
  private sliceStart = 0;

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      if (performance.now() - this.sliceStart >= SLICE_MS) {
        // A macrotask turn: the poll phase (incoming requests, socket drains) runs before the next task.
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        this.sliceStart = performance.now();
      }
      return task();
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/**
 * Lets the event loop turn (I/O, other requests) once the bytes written since the last turn pass
 * `budget`: writes to many sockets made in one tick are flushed in that tick, however many there are.
 */
export class WriteTurns {
  private written = 0;
  private turn: Promise<void> | undefined;

  constructor(private readonly budget: number) {}

  /** Resolves when `bytes` more may be written in this turn (at once while under budget). */
  async take(bytes: number): Promise<void> {
    while (this.written > 0 && this.written + bytes > this.budget) {
      this.turn ??= new Promise<void>((resolve) => {
        setImmediate(() => {
          this.written = 0;
          this.turn = undefined;
          resolve();
        });
      });
      await this.turn;
    }
    this.written += bytes;
  }
}
