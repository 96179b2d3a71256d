/** Opens the store a database URL names: a PostgreSQL URL, or a SQLite file path. */
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { openPostgresBackend } from './postgres/backend.js';
import { SqlStore } from './sql-store.js';
import { openSqliteBackend } from './sqlite/backend.js';
import type { Store } from './store.js';

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** Opens and migrates the store. `db` is `postgres://…` or a SQLite path (`sqlite:` prefix optional). */
export async function openStore(db: string, options: { clock?: Clock; poolSize?: number } = {}): Promise<Store> {
  const backend = isPostgresUrl(db)
    ? openPostgresBackend({ url: db, ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }) })
    : openSqliteBackend(db.replace(/^sqlite:/, ''));
  const store = new SqlStore(backend, options.clock ?? systemClock);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
