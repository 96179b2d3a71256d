/**
 * Signals between coordinators sharing one PostgreSQL database: NOTIFY on one channel, and a dedicated
 * connection that LISTENs to it. Each payload names its sender, so a coordinator drops its own: it told
 * its own listeners already, as it wrote, and the echo would wake every SSE stream and parked claim again.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Signals } from '../backend.js';
import type { StoreSignal } from '../store.js';

const CHANNEL = 'conveyor_signals';

/** The backend's signals, and `close`: sends what is still pending and stops listening. */
export function postgresSignals(pool: pg.Pool, url: string): { signals: Signals; close: () => Promise<void> } {
  const sender = `from:${randomUUID()}`;
  const notifier = new Notifier(pool, sender);
  let listener: pg.Client | undefined;
  const signals: Signals = {
    notify(signal: StoreSignal): void {
      notifier.send(signal);
    },
    async listen(onSignal: (signal: StoreSignal) => void): Promise<void> {
      if (listener !== undefined) return;
      listener = new pg.Client({ connectionString: url });
      await listener.connect();
      listener.on('notification', (message) => {
        if (message.payload === undefined) return;
        const parts = message.payload.split('\n');
        if (parts[0] === sender) return;
        for (const part of parts) {
          if (part === 'events') onSignal({ kind: 'events' });
          else if (part === 'tokens') onSignal({ kind: 'tokens' });
          else if (part.startsWith('jobs:')) onSignal({ kind: 'jobs', product: part.slice(5) });
        }
      });
      // A dropped listen connection only delays cross-coordinator wake-ups; waiters also time out.
      listener.on('error', () => undefined);
      await listener.query(`listen ${CHANNEL}`);
    },
  };
  const close = async (): Promise<void> => {
    await notifier.drain();
    await listener?.end().catch(() => undefined);
  };
  return { signals, close };
}

/**
 * Sends NOTIFY outside the writing transactions, coalescing what arrives while one is in flight.
 * NOTIFY inside every transaction would serialise all commits on PostgreSQL's notify queue lock.
 */
class Notifier {
  private pending = new Set<string>();
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** The first line of every payload: who sent it. */
    private readonly sender: string,
    /** Gap between two NOTIFYs, so a busy coordinator sends a few per second, not one per write. */
    private readonly minIntervalMs = 10,
  ) {}

  send(signal: StoreSignal): void {
    this.pending.add(signal.kind === 'jobs' ? `jobs:${signal.product}` : signal.kind);
    this.inFlight ??= this.flush();
  }

  private async flush(): Promise<void> {
    while (this.pending.size > 0) {
      const payload = [this.sender, ...this.pending].join('\n');
      this.pending.clear();
      // Best effort: SSE streams and claim waiters also re-check on a timer, so a lost
      // notification costs latency, not data.
      await this.pool.query('select pg_notify($1, $2)', [CHANNEL, payload]).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, this.minIntervalMs));
    }
    this.inFlight = undefined;
  }

  async drain(): Promise<void> {
    await this.inFlight;
  }
}
