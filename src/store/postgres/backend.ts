/** PostgreSQL through pg: several coordinators share one database. */
import { Kysely, PostgresDialect, type RawBuilder, type SqlBool, sql } from 'kysely';
import pg from 'pg';
import type { Backend } from '../backend.js';
import { postgresFastPaths } from './one-statement.js';
import type { EventRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { EventCursorQuery, StoreSignal } from '../store.js';

const CHANNEL = 'conveyor_signals';

type TypeId = Parameters<typeof pg.types.getTypeParser>[0];

function typeParser(oid: TypeId, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === pg.types.builtins.INT8) return Number;
  const parser = (
    format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text')
  ) as (value: string) => unknown;
  return parser;
}

export interface PostgresOptions {
  url: string;
  /** Pool size. @default 10 */
  poolSize?: number;
}

export function openPostgresBackend(options: PostgresOptions): Backend {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // Our bigint columns are millisecond times and counters, all well inside 2^53.
    types: { getTypeParser: typeParser },
  });
  // An idle connection that dies (a restarted server, a dropped network) is replaced on next use; without
  // a listener the pool's 'error' event would end the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const notifier = new Notifier(pool);
  let listener: pg.Client | undefined;

  const capabilitiesMatch = (capabilities: string[]): RawBuilder<SqlBool> =>
    sql<SqlBool>`(jobs.required_capabilities = '[]' or jobs.required_capabilities::jsonb <@ ${JSON.stringify(capabilities)}::jsonb)`;

  const orderingSatisfied = (): RawBuilder<SqlBool> =>
    sql<SqlBool>`(jobs.after_positions is null or not exists (
      select 1 from jobs s
      where s.parent_id = jobs.parent_id and s.stage <> 'shipped'
        and jobs.after_positions::jsonb @> to_jsonb(s.position)))`;

  return {
    kind: 'postgres',
    fastPaths: postgresFastPaths(db, pool, capabilitiesMatch, orderingSatisfied),
    capabilitiesMatch,
    orderingSatisfied,
    db,
    rowLocks: true,
    writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
      return db.transaction().execute(fn);
    },
    async readEvents(query: EventCursorQuery): Promise<EventRow[]> {
      // Sequence numbers are taken before commit, so a smaller seq can become visible after a larger
      // one. Reading in (transaction id, seq) order, and only from transactions older than every
      // transaction still running, means nothing can later appear before the cursor.
      const product = query.product === undefined ? sql`` : sql`and e.product = ${query.product}`;
      const cursor =
        query.after === 0
          ? sql``
          : sql`and (e.tx_id, e.seq) > (select c.tx_id, c.seq from events c where c.seq = ${query.after})`;
      const result = await sql<EventRow>`
        select e.seq, e.at, e.product, e.job_id, e.epoch, e.type, e.actor, e.payload, e.ends_run, e.ends_job
        from events e
        where e.tx_id < pg_snapshot_xmin(pg_current_snapshot()) ${cursor} ${product}
        order by e.tx_id, e.seq
        limit ${query.limit}`.execute(db);
      return result.rows;
    },
    notify(signal: StoreSignal): void {
      notifier.send(signal);
    },
    async listen(onSignal: (signal: StoreSignal) => void): Promise<void> {
      if (listener !== undefined) return;
      listener = new pg.Client({ connectionString: options.url });
      await listener.connect();
      listener.on('notification', (message) => {
        if (message.payload === undefined) return;
        for (const part of message.payload.split('\n')) {
          if (part === 'events') onSignal({ kind: 'events' });
          else if (part.startsWith('jobs:')) onSignal({ kind: 'jobs', product: part.slice(5) });
        }
      });
      // A dropped listen connection only delays cross-coordinator wake-ups; waiters also time out.
      listener.on('error', () => undefined);
      await listener.query(`listen ${CHANNEL}`);
    },
    async close(): Promise<void> {
      await notifier.drain();
      await listener?.end().catch(() => undefined);
      await db.destroy();
    },
  };
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
    /** Gap between two NOTIFYs, so a busy coordinator sends a few per second, not one per write. */
    private readonly minIntervalMs = 10,
  ) {}

  send(signal: StoreSignal): void {
    this.pending.add(signal.kind === 'events' ? 'events' : `jobs:${signal.product}`);
    this.inFlight ??= this.flush();
  }

  private async flush(): Promise<void> {
    while (this.pending.size > 0) {
      const payload = [...this.pending].join('\n');
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
