/**
 * PostgreSQL's write transactions: read committed, with row locks (`FOR UPDATE [SKIP LOCKED]`) where
 * the query layer reads a row it will change, so several coordinators can write at once.
 */
import type { Kysely } from 'kysely';
import type { Transactions } from '../backend.js';
import type { Database } from '../schema.js';

export function postgresTransactions(db: Kysely<Database>): Transactions {
  return {
    rowLocks: true,
    async writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>, committed?: (value: T) => void): Promise<T> {
      // Synchronous commit: committed is durable.
      const value = await db.transaction().execute(fn);
      committed?.(value);
      return value;
    },
  };
}
