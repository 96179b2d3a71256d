/** SQLite through better-sqlite3: the embedded default. One file, WAL, full synchronous commits. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type RawBuilder, type SqlBool, type SqliteDatabase, SqliteDialect, sql } from 'kysely';
import type { Backend } from '../backend.js';
import type { EventRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { EventCursorQuery } from '../store.js';

const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; preparing costs as much as running our small statements. The
 * query shapes are few, so prepared statements are kept by SQL text (oldest dropped past the limit).
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement === undefined) {
        statement = database.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
        cache.set(text, statement);
      }
      return statement;
    },
    close() {
      cache.clear();
      database.close();
    },
  };
}

export function openSqliteBackend(path: string): Backend {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new BetterSqlite3(path);
  database.pragma('journal_mode = WAL');
  // Every acknowledged write survives a crash of the process or the machine.
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });

  const groupCommit = new GroupCommit(db);

  return {
    kind: 'sqlite',
    db,
    rowLocks: false,
    writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
      return groupCommit.run(fn);
    },
    capabilitiesMatch(capabilities: string[]): RawBuilder<SqlBool> {
      return sql<SqlBool>`(jobs.required_capabilities = '[]' or not exists (
        select 1 from json_each(jobs.required_capabilities) as r
        where r.value not in (select value from json_each(${JSON.stringify(capabilities)}))))`;
    },
    orderingSatisfied(): RawBuilder<SqlBool> {
      return sql<SqlBool>`(jobs.after_positions is null or not exists (
        select 1 from jobs s, json_each(jobs.after_positions) a
        where s.parent_id = jobs.parent_id and s.position = a.value and s.stage <> 'shipped'))`;
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

interface Pending {
  fn: (trx: Kysely<Database>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const MAX_GROUP = 64;

/**
 * Group commit. A synchronous commit costs an fsync, and SQLite has one writer, so concurrent write
 * transactions queue here and run as savepoints inside one `BEGIN IMMEDIATE … COMMIT`: one fsync for
 * the group. Each transaction still succeeds or fails on its own (ROLLBACK TO its savepoint), and none
 * is acknowledged before the group's COMMIT is durable.
 */
class GroupCommit {
  private readonly queue: Pending[] = [];
  private draining = false;

  constructor(private readonly db: Kysely<Database>) {}

  run<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) await this.commitGroup(this.queue.splice(0, MAX_GROUP));
    } finally {
      this.draining = false;
    }
  }

  private async runSavepoints(
    conn: Kysely<Database>,
    group: Pending[],
    outcomes: { ok: boolean; value: unknown }[],
  ): Promise<void> {
    for (const item of group) {
      await sql`savepoint tx`.execute(conn);
      try {
        const value = await item.fn(conn);
        await sql`release tx`.execute(conn);
        outcomes.push({ ok: true, value });
      } catch (error) {
        await sql`rollback to tx`.execute(conn);
        await sql`release tx`.execute(conn);
        outcomes.push({ ok: false, value: error });
      }
    }
  }

  private async commitGroup(group: Pending[]): Promise<void> {
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      // `connection()` holds the dialect's single connection for the whole group.
      await this.db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          if (group.length === 1 && group[0] !== undefined) {
            // Alone in the group: a failure can roll back the whole transaction, no savepoint needed.
            outcomes.push({ ok: true, value: await group[0].fn(conn) });
          } else {
            await this.runSavepoints(conn, group, outcomes);
          }
          await sql`commit`.execute(conn);
        } catch (error) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw error;
        }
      });
    } catch (error) {
      for (const item of group) item.reject(error);
      return;
    }
    group.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok === true) item.resolve(outcome.value);
      else item.reject(outcome?.value);
    });
  }
}
