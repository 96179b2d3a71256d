/** The event stream on SQLite: one writer at a time, so `seq` order is commit order. */
import type { Kysely } from 'kysely';
import type { EventOrder } from '../backend.js';
import type { EventRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { EventCursorQuery } from '../store.js';

export function sqliteEventOrder(db: Kysely<Database>): EventOrder {
  return {
    async readEvents(query: EventCursorQuery): Promise<EventRow[]> {
      let q = db.selectFrom('events').selectAll().where('seq', '>', query.after);
      if (query.product !== undefined) q = q.where('product', '=', query.product);
      return q.orderBy('seq').limit(query.limit).execute();
    },
  };
}
