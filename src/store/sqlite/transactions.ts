/**
 * SQLite's write transactions: one writer at a time (`BEGIN IMMEDIATE` takes the database's write
 * lock), so no row locks are needed, and concurrent transactions share one durable commit.
 */
import { type Kysely, sql } from 'kysely';
import type { Transactions } from '../backend.js';
import type { Database } from '../schema.js';

export function sqliteTransactions(db: Kysely<Database>): Transactions {
  const groupCommit = new GroupCommit(db);
  return {
    rowLocks: false,
    writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
      return groupCommit.run(fn);
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
