/** One stage change the query layer applies to a locked job row, and the moves other store modules may ask of it. */
import type { Actor, Stage } from '../core/stages.js';
import type { JobRow } from './rows.js';
import type { JobsTable } from './schema.js';
import type { Trx } from './store-context.js';

export type JobPatch = Partial<Omit<JobsTable, 'id' | 'product' | 'created_at'>>;

/** One stage change to apply to a locked job row: the patch, the event, and what it ends. */
export interface Transition {
  to: Stage;
  actor: Actor;
  type: string;
  payload?: Record<string, unknown>;
  patch?: JobPatch | undefined;
  /** Outcome recorded on the run the transition ends, if the job held a lease. */
  runOutcome?: string | undefined;
  /** Overrides whether this event ends the job's life (default: the target stage is terminal). */
  endsJob?: boolean;
  /**
   * Overrides whether this transition ends the run and clears the lease (default: the job leaves the
   * active stages while it holds a lease). A decomposed parent stays in `building` with its run ended.
   */
  endsRun?: boolean;
}

/** What `SqlStore` lends the modules that move jobs besides the one they were asked about (a parent). */
export interface JobMover {
  /** The job row, locked for this transaction (PostgreSQL `FOR UPDATE`); 404 when absent. */
  lock(trx: Trx, product: string, jobId: string): Promise<JobRow>;
  /** Applies `transition` to a locked row with its event (and settles a subtask's parent). */
  apply(trx: Trx, now: number, row: JobRow, transition: Transition): Promise<JobRow>;
}
