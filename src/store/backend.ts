/** What differs between SQLite and PostgreSQL, behind one small interface the shared query layer uses. */
import type { Kysely, RawBuilder, SqlBool } from 'kysely';
import type { BackendKind } from './migrations.js';
import type { Checkpoint, JobError, JobResult } from '../core/job.js';
import type { Stage } from '../core/stages.js';
import type { EventRow, JobRow } from './rows.js';
import type { Database, JobsTable } from './schema.js';
import type { EventCursorQuery, LeaseFence, StoreSignal } from './store.js';

/**
 * A backend is the same named pieces on each side, one file each in `sqlite/` and `postgres/` (as
 * Kysely keeps one folder per dialect): `transactions.ts`, `claim-filters.ts`, `event-order.ts`,
 * `signals.ts`, `fast-paths.ts`, `maintenance.ts`, assembled by `backend.ts` with the connection.
 */
export interface Backend extends Transactions, ClaimFilters, EventOrder, Signals, Maintenance {
  readonly kind: BackendKind;
  readonly db: Kysely<Database>;
  close(): Promise<void>;
  /** The hottest writes in as few statements as the backend allows (`fast-paths.ts`). */
  readonly fastPaths: FastPaths;
}

/** How writes are isolated (`transactions.ts`). */
export interface Transactions {
  /** PostgreSQL takes row locks (`FOR UPDATE [SKIP LOCKED]`); SQLite's write transaction is exclusive. */
  readonly rowLocks: boolean;
  /**
   * Runs `fn` in one write transaction (SQLite `BEGIN IMMEDIATE`, PostgreSQL read committed) and
   * resolves once its commit is durable. `committed` is called with `fn`'s value as soon as the
   * transaction has committed, before it is durable on SQLite (its WAL flush follows): to wake the
   * waiters of what it wrote, whose own writes are answered only after a later flush, which covers
   * this one too.
   */
  writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>, committed?: (value: T) => void): Promise<T>;
}

/** Which queued jobs a claim may take, as SQL over `jobs` (`claim-filters.ts`). */
export interface ClaimFilters {
  /** `jobs.required_capabilities ⊆ capabilities` as SQL. */
  capabilitiesMatch(capabilities: string[]): RawBuilder<SqlBool>;
  /**
   * `jobs` may be claimed as far as its ordering goes: it waits for no sibling, or every sibling whose
   * position its `after_positions` names has shipped.
   */
  orderingSatisfied(): RawBuilder<SqlBool>;
}

/** The event stream's order (`event-order.ts`). */
export interface EventOrder {
  /** Events after a cursor in commit-safe order (see `Store.readEvents`). */
  readEvents(query: EventCursorQuery): Promise<EventRow[]>;
}

/** Signals between processes sharing the database (`signals.ts`). */
export interface Signals {
  /** Tells other processes sharing the database (PostgreSQL NOTIFY); SQLite has no one to tell. */
  notify(signal: StoreSignal): void;
  /** Receives other processes' signals. */
  listen(listener: (signal: StoreSignal) => void): Promise<void>;
}

/** The once-per-database duties and what they need to know (`maintenance.ts`). */
export interface Maintenance {
  /**
   * Whether this process leads: runs the duties one process at a time does for the whole database (the
   * reaper, retention). Takes the lead when it is free and keeps it while held. PostgreSQL: a session
   * advisory lock on a connection of its own, freed when that connection closes (the process died or
   * closed the store); SQLite: the one process on its file always leads.
   */
  lead(): Promise<boolean>;
  /** The database's size on disk, and how much of it is free for reuse without growing. */
  databaseSize(): Promise<DatabaseSize>;
}

export interface DatabaseSize {
  /** SQLite: the file and its WAL; PostgreSQL: `pg_database_size`. */
  bytes: number;
  /** SQLite: free pages (reused before the file grows; `VACUUM` returns them); PostgreSQL: not known (0). */
  freeBytes: number;
}

/** A fenced factory report whose outcome depends on nothing but the stage guard. */
export interface FencedMove extends LeaseFence {
  now: number;
  to: Stage;
  /** Stages the job may be in for this move (including `to` itself for a same-stage report). */
  allowedFrom: Stage[];
  checkpoint?: Checkpoint | undefined;
  result?: JobResult | undefined;
  error?: JobError | undefined;
  /** The move leaves the active stages: the lease is cleared and the run ends with outcome `to`. */
  endsRun: boolean;
  endsJob: boolean;
  /** A failure counts towards the job's attempts. */
  countAttempt: boolean;
  /** Added to the `stage.changed` event's `{from, to}` payload. */
  payload: Record<string, unknown>;
}

/**
 * Each returns the changed row (rows, for a claim), or none when nothing matched (no claimable job, or a guard that
 * did not pass); the shared path then decides, and names the error.
 */
export interface FastPaths {
  /**
   * Up to `limit` jobs, each claimed (the job assigned under a new epoch, a run opened, `job.claimed`
   * appended) in claim order; none when nothing matched. The claim has no other path.
   */
  claim(input: {
    product: string;
    factoryId: string;
    capabilities: string[];
    now: number;
    expiresAt: number;
    limit: number;
  }): Promise<JobRow[]>;
  move(move: FencedMove): Promise<JobRow | undefined>;
  renew(
    input: LeaseFence & { now: number; expiresAt: number; activeStages: readonly Stage[] },
  ): Promise<JobRow | undefined>;
  /**
   * A new job without an idempotency key, inserted with its `job.created` event `payload` at `row.created_at`
   * (PostgreSQL only: one statement instead of four round trips; SQLite has none to save).
   */
  submit?(row: JobsTable, payload: Record<string, unknown>): Promise<JobRow>;
}
