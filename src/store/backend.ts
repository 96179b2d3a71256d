/** What differs between SQLite and PostgreSQL, behind one small interface the shared query layer uses. */
import type { Kysely, RawBuilder, SqlBool } from 'kysely';
import type { BackendKind } from './migrations.js';
import type { EventRow } from './rows.js';
import type { Database } from './schema.js';
import type { EventCursorQuery, StoreSignal } from './store.js';

export interface Backend {
  readonly kind: BackendKind;
  readonly db: Kysely<Database>;
  /** PostgreSQL takes row locks (`FOR UPDATE [SKIP LOCKED]`); SQLite's write transaction is exclusive. */
  readonly rowLocks: boolean;
  /** Runs `fn` in one write transaction: SQLite `BEGIN IMMEDIATE`, PostgreSQL read committed. */
  writeTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** `jobs.required_capabilities ⊆ capabilities` as SQL. */
  capabilitiesMatch(capabilities: string[]): RawBuilder<SqlBool>;
  /** Events after a cursor in commit-safe order (see `Store.readEvents`). */
  readEvents(query: EventCursorQuery): Promise<EventRow[]>;
  /** Tells other processes sharing the database (PostgreSQL NOTIFY); SQLite has no one to tell. */
  notify(signal: StoreSignal): void;
  /** Receives other processes' signals. */
  listen(listener: (signal: StoreSignal) => void): Promise<void>;
  close(): Promise<void>;
}
