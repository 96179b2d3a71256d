/**
 * Maintenance on SQLite: the one coordinator on a file always leads, and the size is the file's (with
 * its WAL) and the free pages inside it.
 */
import { statSync } from 'node:fs';
import { type Kysely, sql } from 'kysely';
import type { Maintenance } from '../backend.js';
import type { Database } from '../schema.js';

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export function sqliteMaintenance(db: Kysely<Database>, path: string): Maintenance {
  return {
    lead(): Promise<boolean> {
      return Promise.resolve(true);
    },
    async databaseSize() {
      const pragma = async (name: 'page_size' | 'freelist_count' | 'page_count'): Promise<number> => {
        const row = (await sql<Record<string, number>>`select * from ${sql.raw(`pragma_${name}`)}`.execute(db)).rows[0];
        return Number(row === undefined ? 0 : Object.values(row)[0]);
      };
      const pageSize = await pragma('page_size');
      const bytes =
        path === ':memory:' ? (await pragma('page_count')) * pageSize : fileBytes(path) + fileBytes(`${path}-wal`);
      return { bytes, freeBytes: (await pragma('freelist_count')) * pageSize };
    },
  };
}
