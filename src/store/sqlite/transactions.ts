/**
 * SQLite's write transactions: one writer at a time (`BEGIN IMMEDIATE` takes the database's write
 * lock), so no row locks are needed, and concurrent transactions share one transaction and one durable
 * flush of the WAL (`wal-sync.ts`).
 */
import type { Kysely } from 'kysely';
import type { Transactions } from '../backend.js';
import type { Database } from '../schema.js';
import type { Prepare } from './fast-paths.js';
import type { WalSync } from './wal-sync.js';

/**
 * `wal` makes each commit durable before it is acknowledged; none for an in-memory database. The
 * transaction's own statements (begin, savepoints, commit) go straight to the connection (`prepare`).
 */
export function sqliteTransactions(db: Kysely<Database>, prepare: Prepare, wal: WalSync | undefined): Transactions {
  const groupCommit = new GroupCommit(db, (text) => prepare(text).run(), wal);
  return {
    rowLocks: false,
    writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>, committed?: (value: T) => void): Promise<T> {
      return groupCommit.run(fn, committed);
    },
  };
}

interface Pending {
  fn: (trx: Kysely<Database>) => Promise<unknown>;
  committed: ((value: unknown) => void) | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const MAX_GROUP = 64;

/**
 * Group commit. SQLite has one writer, so write transactions queue here and run as savepoints inside
 * one `BEGIN IMMEDIATE … COMMIT`. The queue is taken one event-loop turn after the first write arrives
 * (`setImmediate`), so the requests read from every socket in that turn share the transaction; each
 * still succeeds or fails on its own (ROLLBACK TO its savepoint). A group's COMMIT only writes the
 * WAL; its writes are acknowledged when a flush of the WAL begun after that COMMIT ends, and the
 * next group runs meanwhile, so the statements of one group overlap the flush of the one before.
 * A transaction's `committed` hook runs right after its group's COMMIT, before that flush.
 */
class GroupCommit {
  private readonly queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly exec: (statement: string) => void,
    private readonly wal: WalSync | undefined,
  ) {}

  run<T>(fn: (trx: Kysely<Database>) => Promise<T>, committed?: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, committed: committed as ((value: unknown) => void) | undefined, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, MAX_GROUP);
        const outcomes = await this.commitGroup(group);
        if (!('failed' in outcomes)) this.announce(group, outcomes);
        void this.acknowledge(group, outcomes);
      }
    } finally {
      this.scheduled = false;
    }
  }

  /** Runs the `committed` hooks of a committed group's transactions; a hook's error is its caller's answer. */
  private announce(group: Pending[], outcomes: Outcome[]): void {
    group.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok !== true || item.committed === undefined) return;
      try {
        item.committed(outcome.value);
      } catch (error) {
        outcomes[i] = { ok: false, error };
      }
    });
  }

  /** Answers each transaction of a committed group once the WAL holding it is on disk. */
  private async acknowledge(group: Pending[], outcomes: Outcome[] | { failed: unknown }): Promise<void> {
    if ('failed' in outcomes) {
      for (const item of group) item.reject(outcomes.failed);
      return;
    }
    try {
      await this.wal?.sync();
    } catch (error) {
      // Committed, but not known to be durable: nobody may be told it was.
      for (const item of group) item.reject(error);
      return;
    }
    group.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok === true) item.resolve(outcome.value);
      else item.reject(outcome?.error);
    });
  }

  private async runSavepoints(conn: Kysely<Database>, group: Pending[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const item of group) {
      this.exec('savepoint tx');
      try {
        const value = await item.fn(conn);
        this.exec('release tx');
        outcomes.push({ ok: true, value });
      } catch (error) {
        this.exec('rollback to tx');
        this.exec('release tx');
        outcomes.push({ ok: false, error });
      }
    }
    return outcomes;
  }

  /** Runs the group in one transaction: each item's outcome, or why the whole group failed. */
  private async commitGroup(group: Pending[]): Promise<Outcome[] | { failed: unknown }> {
    try {
      // `connection()` holds the dialect's single connection for the whole group.
      return await this.db.connection().execute(async (conn) => {
        this.exec('begin immediate');
        try {
          let outcomes: Outcome[];
          if (group.length === 1 && group[0] !== undefined) {
            // Alone in the group: a failure can roll back the whole transaction, no savepoint needed.
            outcomes = [{ ok: true, value: await group[0].fn(conn) }];
          } else {
            outcomes = await this.runSavepoints(conn, group);
          }
          this.exec('commit');
          return outcomes;
        } catch (error) {
          try {
            this.exec('rollback');
          } catch {
            // Already rolled back (SQLite ends a transaction itself on some errors); the first error is the news.
          }
          throw error;
        }
      });
    } catch (error) {
      return { failed: error };
    }
  }
}
