/** SQLite through better-sqlite3: the embedded default. One file, WAL, full synchronous commits. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type RawBuilder, type SqlBool, SqliteDialect, sql } from 'kysely';
import type { Backend } from '../backend.js';
import type { EventRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { EventCursorQuery } from '../store.js';

export function openSqliteBackend(path: string): Backend {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new BetterSqlite3(path);
  database.pragma('journal_mode = WAL');
  // Every acknowledged write survives a crash of the process or the machine.
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });

  return {
    kind: 'sqlite',
    db,
    rowLocks: false,
    writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
      // The dialect has one connection guarded by a mutex; `connection()` holds it for the whole
      // transaction, and BEGIN IMMEDIATE takes the write lock up front so no upgrade can fail.
      return db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (error) {
          await sql`rollback`.execute(conn);
          throw error;
        }
      });
    },
    capabilitiesMatch(capabilities: string[]): RawBuilder<SqlBool> {
      return sql<SqlBool>`(jobs.required_capabilities = '[]' or not exists (
        select 1 from json_each(jobs.required_capabilities) as r
        where r.value not in (select value from json_each(${JSON.stringify(capabilities)}))))`;
    },
    async readEvents(query: EventCursorQuery): Promise<EventRow[]> {
      // SQLite has one writer at a time, so seq order is commit order.
      let q = db.selectFrom('events').selectAll().where('seq', '>', query.after);
      if (query.product !== undefined) q = q.where('product', '=', query.product);
      return q.orderBy('seq').limit(query.limit).execute();
    },
    notify(): void {},
    listen(): Promise<void> {
      return Promise.resolve();
    },
    close(): Promise<void> {
      return db.destroy();
    },
  };
}
