/**
 * PostgreSQL through pg: several coordinators share one database. The pieces that differ from SQLite
 * sit beside this file, under the same names as in `sqlite/`.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Backend } from '../backend.js';
import type { Database } from '../schema.js';
import { postgresClaimFilters } from './claim-filters.js';
import { postgresEventOrder } from './event-order.js';
import { postgresFastPaths } from './fast-paths.js';
import { postgresMaintenance } from './maintenance.js';
import { postgresSignals } from './signals.js';
import { postgresTransactions } from './transactions.js';

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
  const { signals, close: closeSignals } = postgresSignals(pool, options.url);
  const { maintenance, close: closeMaintenance } = postgresMaintenance(db, options.url);

  return {
    kind: 'postgres',
    db,
    ...postgresTransactions(db),
    ...postgresClaimFilters,
    ...postgresEventOrder(db),
    ...signals,
    ...maintenance,
    fastPaths: postgresFastPaths(db, pool, postgresClaimFilters),
    async close(): Promise<void> {
      await closeMaintenance();
      await closeSignals();
      await db.destroy();
    },
  };
}
