/**
 * The event stream on PostgreSQL, in commit-safe order. Sequence numbers are taken before commit, so a
 * smaller seq can become visible after a larger one. Reading in (transaction id, seq) order, and only
 * from transactions older than every transaction still running in this database, means nothing can
 * later appear before the cursor.
 *
 * Transaction ids and snapshots are the server's, not the database's: a transaction left open in
 * another database on the same server (a migration, a report, another tenant) would hold the whole
 * stream back for as long as it runs. So the horizon skips the running transactions that
 * `pg_stat_get_activity` shows belong to another database, which can never write here; one it cannot
 * place (another role's, a prepared transaction) still holds the stream back.
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
        with snapshot as materialized (select pg_current_snapshot() as s),
        elsewhere as materialized (
          select a.backend_xid as xid from pg_stat_get_activity(null) a
          where a.backend_xid is not null and a.datid <> (select oid from pg_database where datname = current_database())
        ),
        horizon as materialized (
          -- Every transaction from the snapshot's xmax on counts as running; below it, those it lists.
          select case when pg_snapshot_xmin(s) = pg_snapshot_xmax(s) then pg_snapshot_xmax(s) else coalesce(
            (select min(x) from pg_snapshot_xip(s) x where not exists (select 1 from elsewhere where elsewhere.xid = x::xid)),
            pg_snapshot_xmax(s)) end as tx
          from snapshot
        )
        select e.seq, e.at, e.product, e.job_id, e.epoch, e.type, e.actor, e.payload, e.ends_run, e.ends_job
        from events e
        where e.tx_id < (select tx from horizon) ${cursor} ${product}
        order by e.tx_id, e.seq
        limit ${query.limit}`.execute(db);
      return result.rows;
    },
  };
}
