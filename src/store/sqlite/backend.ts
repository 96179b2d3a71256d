/**
 * SQLite through better-sqlite3: the embedded default. One file, WAL, full synchronous commits. The
 * pieces that differ from PostgreSQL sit beside this file, under the same names as in `postgres/`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type SqliteDatabase, SqliteDialect } from 'kysely';
import type { Backend } from '../backend.js';
import type { Database } from '../schema.js';
import { sqliteClaimFilters } from './claim-filters.js';
import { sqliteEventOrder } from './event-order.js';
import { sqliteFastPaths } from './fast-paths.js';
import { sqliteSignals } from './signals.js';
import { sqliteTransactions } from './transactions.js';

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

  return {
    kind: 'sqlite',
    db,
    ...sqliteTransactions(db),
    ...sqliteClaimFilters,
    ...sqliteEventOrder(db),
    ...sqliteSignals,
    fastPaths: sqliteFastPaths,
    close(): Promise<void> {
      return db.destroy();
    },
  };
}
