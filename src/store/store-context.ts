/**
 * What every part of the store shares: the backend, the clock, the signal emitter, the mover every
 * stage change goes through (`transition.ts`), and the two writes every state change ends with
 * (appending events) or starts with (finding the job).
 */
import type { Kysely } from 'kysely';
import { monotonicFactory } from 'ulid';
import type { Clock } from '../core/clock.js';
import { NotFoundError } from '../core/errors.js';
import type { ConveyorEvent } from '../core/job.js';
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

/** An event about to be appended; at most one per run and per job life may end it (schema-enforced). */
export interface NewEvent extends Omit<ConveyorEvent, 'seq' | 'at'> {
  endsRun?: boolean;
  endsJob?: boolean;
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
