/**
 * SQLite through better-sqlite3: the embedded default. One file, WAL, commits made durable before they
 * are acknowledged (`wal-sync.ts`). The
 * pieces that differ from PostgreSQL sit beside this file, under the same names as in `postgres/`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Backend } from '../backend.js';
import type { Database } from '../schema.js';
import { sqliteClaimFilters } from './claim-filters.js';
import { sqliteEventOrder } from './event-order.js';
import { sqliteFastPaths } from './fast-paths.js';
import { sqliteMaintenance } from './maintenance.js';
import { sqliteSignals } from './signals.js';
import { sqliteTransactions } from './transactions.js';
import { walFile, WalSync } from './wal-sync.js';

const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; preparing costs as much as running our small statements. The
 * query shapes are few, so prepared statements are kept by SQL text (oldest dropped past the limit),
 * for Kysely and for the fast paths alike.
 */
interface StatementCache {
  prepare: (text: string) => BetterSqlite3.Statement;
  close: () => void;
}

function withStatementCache(database: BetterSqlite3.Database): StatementCache {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = (text: string): BetterSqlite3.Statement => {
    let statement = cache.get(text);
    if (statement === undefined) {
      statement = database.prepare(text);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(text, statement);
    }
    return statement;
  };
  const close = (): void => {
    cache.clear();
    database.close();
  };
  return { prepare, close };
}

export interface SqliteBackendOptions {
  /** Awaited before each flush of the WAL. For tests: holds the flushes back. */
  beforeWalFlush?: () => Promise<void>;
}

export function openSqliteBackend(path: string, options: SqliteBackendOptions = {}): Backend {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new BetterSqlite3(path);
  const file = database.pragma('journal_mode = WAL', { simple: true }) === 'wal' ? walFile(`${path}-wal`) : undefined;
  const { beforeWalFlush } = options;
  const flush =
    file === undefined || beforeWalFlush === undefined
      ? file?.flush
      : async (): Promise<void> => {
          await beforeWalFlush();
          await file.flush();
        };
  const wal = flush === undefined ? undefined : new WalSync(flush);
  // A commit writes the WAL without syncing it; every acknowledged write survives a crash of the process
  // or the machine all the same, because it is answered only after `wal` has flushed it.
  database.pragma(wal === undefined ? 'synchronous = FULL' : 'synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const statements = withStatementCache(database);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
  const transactions = sqliteTransactions(db, statements.prepare, wal);

  return {
    kind: 'sqlite',
    db,
    ...transactions,
    ...sqliteClaimFilters,
    ...sqliteEventOrder(db),
    ...sqliteSignals,
    ...sqliteMaintenance(db, path),
    fastPaths: sqliteFastPaths(db, statements.prepare, transactions, sqliteClaimFilters),
    async close(): Promise<void> {
      await wal?.idle();
      file?.close();
      await db.destroy();
    },
  };
}
