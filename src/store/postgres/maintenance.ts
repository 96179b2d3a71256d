/**
 * Maintenance on PostgreSQL: one coordinator of those sharing the database leads, the one holding a
 * session advisory lock on a connection of its own. The lock goes with the connection, so when the
 * holder dies (or closes its store) another takes it on its next try.
 */
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Maintenance } from '../backend.js';
import type { Database } from '../schema.js';

/** The advisory lock's key (advisory locks are per database): "conveyor" in ASCII, leader lock 1. */
const LEADER_LOCK = '7165064445744537601';

export function postgresMaintenance(
  db: Kysely<Database>,
  url: string,
): { maintenance: Maintenance; close: () => Promise<void> } {
  let holder: pg.Client | undefined;
  let trying: Promise<boolean> | undefined;
  let closed = false;

  const drop = (client: pg.Client): void => {
    if (holder === client) holder = undefined;
    client.end().catch(() => undefined);
  };

  const tryLead = async (): Promise<boolean> => {
    if (holder !== undefined) {
      const client = holder;
      // The lock lives as long as the session: a session that still answers still holds it.
      const alive = await client.query('select 1').then(
        () => true,
        () => false,
      );
      if (alive) return true;
      drop(client);
    }
    const client = new pg.Client({ connectionString: url });
    // A connection that breaks loses the lock with it; the next try finds out and starts afresh.
    client.on('error', () => {
      if (holder === client) holder = undefined;
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [
        LEADER_LOCK,
      ]);
      if (rows[0]?.locked === true && !closed) {
        holder = client;
        return true;
      }
    } catch {
      // The database is unreachable: not leading, and the next try tries again.
    }
    drop(client);
    return false;
  };

  const maintenance: Maintenance = {
    lead(): Promise<boolean> {
      if (closed) return Promise.resolve(false);
      trying ??= tryLead().finally(() => {
        trying = undefined;
      });
      return trying;
    },
    async databaseSize() {
      const { rows } = await sql<{
        bytes: number;
      }>`select pg_database_size(current_database())::bigint as bytes`.execute(db);
      return { bytes: rows[0]?.bytes ?? 0, freeBytes: 0 };
    },
  };
  const close = async (): Promise<void> => {
    closed = true;
    await trying;
    const client = holder;
    holder = undefined;
    await client?.end().catch(() => undefined);
  };
  return { maintenance, close };
}
