/**
 * The event stream on PostgreSQL, in commit-safe order. Sequence numbers are taken before commit, so a
 * smaller seq can become visible after a larger one. Reading in (transaction id, seq) order, and only
 * from transactions older than every transaction still running, means nothing can later appear before
 * the cursor.
 *
 * The cursor is an event's seq; its place in that order is the event's (tx_id, seq). An event removed
 * since (`conveyor gc`) has no place: the reader goes on from the nearest event still there below it
 * (it may see again the few events of that era that committed out of seq order, never miss one), or
 * from the start when none is left.
 */
import { type Kysely, sql } from 'kysely';
import type { EventOrder } from '../backend.js';
import type { EventRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { EventCursorQuery } from '../store.js';

export function postgresEventOrder(db: Kysely<Database>): EventOrder {
  return {
    async readEvents(query: EventCursorQuery): Promise<EventRow[]> {
      const product = query.product === undefined ? sql`` : sql`and e.product = ${query.product}`;
      const cursor =
        query.after === 0
          ? sql``
          : sql`and (
              not exists (select 1 from events c where c.seq <= ${query.after})
              or (e.tx_id, e.seq) > (
                select c.tx_id, c.seq from events c where c.seq <= ${query.after} order by c.seq desc limit 1
              )
            )`;
      const result = await sql<EventRow>`
        select e.seq, e.at, e.product, e.job_id, e.epoch, e.type, e.actor, e.payload, e.ends_run, e.ends_job
        from events e
        where e.tx_id < pg_snapshot_xmin(pg_current_snapshot()) ${cursor} ${product}
        order by e.tx_id, e.seq
        limit ${query.limit}`.execute(db);
      return result.rows;
    },
  };
}
