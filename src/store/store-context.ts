/**
 * What every part of the store shares: the backend, the clock, the signal emitter, the mover every
 * stage change goes through (`transition.ts`), and the two writes every state change ends with
 * (appending events) or starts with (finding the job).
 */
import type { Kysely } from 'kysely';
import { monotonicFactory } from 'ulid';
import type { Clock } from '../core/clock.js';
import { NotFoundError } from '../core/errors.js';
import { type CatalogueEvent, isEventType, validatePayload } from '../core/events.js';
import type { Actor } from '../core/stages.js';
import type { Backend } from './backend.js';
import { json } from './rows.js';
import type { Database } from './schema.js';
import type { StoreSignal } from './store.js';
import type { JobMover } from './transition.js';

export type Trx = Kysely<Database>;

export interface StoreContext {
  backend: Backend;
  db: Kysely<Database>;
  clock: Clock;
  /** Locks and moves jobs (`transition.ts`). */
  mover: JobMover;
  /** Tells waiters here and in other coordinators; call after the commit. */
  emit(...signals: StoreSignal[]): void;
}

/** Everything of an event about to be appended but its type and payload. */
export interface EventHeader {
  product: string;
  jobId: string | null;
  epoch: number | null;
  actor: Actor;
  /** At most one event per run and per job life may end it (schema-enforced). */
  endsRun?: boolean;
  endsJob?: boolean;
}

declare const unlisted: unique symbol;
/** A type the catalogue does not name, as a factory sent it (only `composedEvent` makes one). */
type UnlistedEventType = string & { readonly [unlisted]: true };

/**
 * An event about to be appended: one of the catalogue (`core/events.ts`), type and payload matched,
 * or a factory's observation under a type the catalogue does not name (the fleet route accepts those).
 */
export type NewEvent = EventHeader & (CatalogueEvent | { type: UnlistedEventType; payload: Record<string, unknown> });

/**
 * An event whose type or payload is composed at run time (a transition's `{from, to, ...}`, what a
 * factory sent), checked against the catalogue here since the compiler cannot. A mismatch is a bug in
 * the store, so it throws; only a factory may write a type the catalogue does not name.
 */
export function composedEvent(header: EventHeader, type: string, payload: Record<string, unknown>): NewEvent {
  if (!isEventType(type)) {
    if (header.actor !== 'factory') throw new Error(`event type ${type} is not in the catalogue (core/events.ts)`);
    return { ...header, type: type as UnlistedEventType, payload };
  }
  const checked = validatePayload(type, payload);
  if (!checked.success) throw new Error(`${type} payload does not match the catalogue: ${checked.error.message}`);
  // Checked just above; the compiler cannot match a run-time type with its payload.
  return { ...header, type, payload } as NewEvent;
}

/** Time-ordered ids (ULID), monotonic within a millisecond. */
export const newId = monotonicFactory();

export async function appendEvents(trx: Trx, now: number, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await trx
    .insertInto('events')
    .values(
      events.map((e) => ({
        at: now,
        product: e.product,
        job_id: e.jobId,
        epoch: e.epoch,
        type: e.type,
        actor: e.actor,
        payload: json(e.payload),
        ends_run: e.endsRun === true ? 1 : null,
        ends_job: e.endsJob === true ? 1 : null,
      })),
    )
    .execute();
}

export async function requireJob(db: Kysely<Database>, product: string, jobId: string): Promise<void> {
  const row = await db
    .selectFrom('jobs')
    .select('id')
    .where('id', '=', jobId)
    .where('product', '=', product)
    .executeTakeFirst();
  if (row === undefined) throw new NotFoundError(`no job ${jobId} in product ${product}`);
}
