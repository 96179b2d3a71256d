/**
 * Retention (`conveyor gc`, `[retention]`): finished jobs past an age, with every row that depends on
 * them, and old events of finished jobs (or of none) are removed in bounded batches, each its own short
 * write transaction, so the coordinator keeps serving between them. A job that is not finished, and its
 * events, are never touched: each batch locks the finished jobs it removes from (PostgreSQL row locks,
 * SQLite's exclusive write), so a job retried meanwhile is left whole.
 */
import { type ExpressionBuilder, type RawBuilder, sql, type SqlBool } from 'kysely';
import { TERMINAL_STAGES } from '../core/stages.js';
import type { Database } from './schema.js';
import type { StoreContext, Trx } from './store-context.js';
import type { GarbageCount, GarbageRequest } from './store.js';

/** Rows per write transaction. */
export const DEFAULT_GC_BATCH_ROWS = 1000;

/** Dependent rows per job are few (runs, a quarantined result, a credential): this many jobs stay near `batchRows` rows. */
const ROWS_PER_JOB = 5;

type JobsEb = ExpressionBuilder<Database, 'jobs'>;

/**
 * `jobs.stage` is finished, the stages written out: SQLite uses the partial index `jobs_finished`
 * (`0010_scale_indexes`) only for a condition naming the same literals, never for bound parameters.
 */
const jobFinished: RawBuilder<SqlBool> = sql<SqlBool>`jobs.stage in (${sql.join(TERMINAL_STAGES.map((stage) => sql.lit(stage)))})`;

/**
 * A job that may go: finished, unchanged since `before`, its parent (if any) finished. Its subtasks
 * reference it, so a run takes it only once none is left (`subtasks: 'none'`, a parent goes in a later
 * batch than its subtasks); a count takes it when every one of them may go too (`'removable'`).
 */
function removableJob(eb: JobsEb, before: number, subtasks: 'none' | 'removable') {
  const blocking = eb.selectFrom('jobs as child').select('child.id').whereRef('child.parent_id', '=', 'jobs.id');
  return eb.and([
    jobFinished,
    eb('jobs.updated_at', '<', before),
    eb.or([
      eb('jobs.parent_id', 'is', null),
      eb.exists(
        eb
          .selectFrom('jobs as parent')
          .select('parent.id')
          .whereRef('parent.id', '=', 'jobs.parent_id')
          .where('parent.stage', 'in', TERMINAL_STAGES),
      ),
    ]),
    eb.not(
      eb.exists(
        subtasks === 'none'
          ? blocking
          : blocking.where((c) =>
              c.or([c('child.stage', 'not in', TERMINAL_STAGES), c('child.updated_at', '>=', before)]),
            ),
      ),
    ),
  ]);
}

/** Of `ids`, the jobs still finished and unchanged since `before`, locked until the transaction ends. */
async function lockFinished(ctx: StoreContext, trx: Trx, ids: readonly string[], before: number): Promise<string[]> {
  if (ids.length === 0) return [];
  let query = trx
    .selectFrom('jobs')
    .select('id')
    .where('id', 'in', ids)
    .where('stage', 'in', TERMINAL_STAGES)
    .where('updated_at', '<', before);
  if (ctx.backend.rowLocks) query = query.forUpdate();
  return (await query.execute()).map((row) => row.id);
}

const empty = (): GarbageCount => ({ jobs: 0, runs: 0, events: 0, quarantined: 0, credentials: 0, batches: 0 });

export async function collectGarbage(ctx: StoreContext, request: GarbageRequest): Promise<GarbageCount> {
  const batchRows = request.batchRows ?? DEFAULT_GC_BATCH_ROWS;
  if (request.dryRun === true) return countGarbage(ctx, request);
  const removed = empty();
  const progress = (): void => request.onProgress?.({ ...removed });
  if (request.jobsBefore !== undefined) await removeJobs(ctx, request.jobsBefore, batchRows, removed, progress);
  if (request.eventsBefore !== undefined) await removeEvents(ctx, request.eventsBefore, batchRows, removed, progress);
  return removed;
}

async function removeJobs(
  ctx: StoreContext,
  before: number,
  batchRows: number,
  removed: GarbageCount,
  progress: () => void,
): Promise<void> {
  const jobsPerBatch = Math.max(1, Math.floor(batchRows / ROWS_PER_JOB));
  for (;;) {
    const picked = (
      await ctx.db
        .selectFrom('jobs')
        .select('id')
        .where((eb) => removableJob(eb, before, 'none'))
        .orderBy('updated_at')
        .limit(jobsPerBatch)
        .execute()
    ).map((row) => row.id);
    if (picked.length === 0) return;
    // A job's events may be many (10,000 and more): they go first, `batchRows` at a time.
    for (;;) {
      const events = await ctx.backend.writeTransaction(async (trx) => {
        const ids = await lockFinished(ctx, trx, picked, before);
        if (ids.length === 0) return 0;
        const seqs = (
          await trx.selectFrom('events').select('seq').where('job_id', 'in', ids).limit(batchRows).execute()
        ).map((row) => row.seq);
        if (seqs.length === 0) return 0;
        return Number((await trx.deleteFrom('events').where('seq', 'in', seqs).executeTakeFirst()).numDeletedRows);
      });
      removed.events += events;
      removed.batches += 1;
      progress();
      if (events < batchRows) break;
    }
    const gone = await ctx.backend.writeTransaction(async (trx) => {
      const ids = await lockFinished(ctx, trx, picked, before);
      if (ids.length === 0) return empty();
      // The report-back's state of a job from a forge (its status comment): nothing is left to report.
      await trx.deleteFrom('forge_report_jobs').where('job_id', 'in', ids).execute();
      const count = async (query: { executeTakeFirst(): Promise<{ numDeletedRows: bigint }> }): Promise<number> =>
        Number((await query.executeTakeFirst()).numDeletedRows);
      return {
        ...empty(),
        // Written since the batch above: none is expected (a finished job takes no fenced writes).
        events: await count(trx.deleteFrom('events').where('job_id', 'in', ids)),
        runs: await count(trx.deleteFrom('runs').where('job_id', 'in', ids)),
        quarantined: await count(trx.deleteFrom('quarantined_results').where('job_id', 'in', ids)),
        credentials: await count(trx.deleteFrom('tokens').where('job_id', 'in', ids)),
        jobs: await count(trx.deleteFrom('jobs').where('id', 'in', ids)),
      };
    });
    removed.jobs += gone.jobs;
    removed.runs += gone.runs;
    removed.events += gone.events;
    removed.quarantined += gone.quarantined;
    removed.credentials += gone.credentials;
    removed.batches += 1;
    progress();
    // Every picked job changed meanwhile: the next pick would find them again.
    if (gone.jobs === 0) return;
  }
}

/**
 * Events are appended in time order, so they are read forward by `seq`, `batchRows` at a time, until a
 * batch holds none older than `before`; each batch's removable ones go in one transaction.
 */
async function removeEvents(
  ctx: StoreContext,
  before: number,
  batchRows: number,
  removed: GarbageCount,
  progress: () => void,
): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await ctx.db
      .selectFrom('events')
      .select(['seq', 'at', 'job_id'])
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(batchRows)
      .execute();
    const old = rows.filter((row) => row.at < before);
    if (old.length === 0) return;
    after = rows.at(-1)?.seq ?? after;
    const deleted = await ctx.backend.writeTransaction(async (trx) => {
      const jobIds = [...new Set(old.flatMap((row) => (row.job_id === null ? [] : [row.job_id])))];
      // Finished at any age: the job stays, its old events go.
      let finished = trx
        .selectFrom('jobs')
        .select('id')
        .where('id', 'in', jobIds)
        .where('stage', 'in', TERMINAL_STAGES);
      if (ctx.backend.rowLocks) finished = finished.forUpdate();
      const done = new Set(jobIds.length === 0 ? [] : (await finished.execute()).map((row) => row.id));
      const seqs = old.filter((row) => row.job_id === null || done.has(row.job_id)).map((row) => row.seq);
      if (seqs.length === 0) return 0;
      return Number((await trx.deleteFrom('events').where('seq', 'in', seqs).executeTakeFirst()).numDeletedRows);
    });
    removed.events += deleted;
    removed.batches += 1;
    progress();
  }
}

/** What a run would remove, counted (a parent whose subtasks would go first is counted among them only one level deep). */
async function countGarbage(ctx: StoreContext, request: GarbageRequest): Promise<GarbageCount> {
  const counted = empty();
  const jobsBefore = request.jobsBefore;
  const removable = (eb: JobsEb) =>
    jobsBefore === undefined ? eb.lit(false) : removableJob(eb, jobsBefore, 'removable');
  const countOf = async (
    table: 'runs' | 'events' | 'quarantined_results' | 'tokens',
    column: 'job_id',
  ): Promise<number> => {
    const row = await ctx.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where(column, 'in', ctx.db.selectFrom('jobs').select('id').where(removable))
      .executeTakeFirst();
    return row?.n ?? 0;
  };
  if (jobsBefore !== undefined) {
    const row = await ctx.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where(removable)
      .executeTakeFirst();
    counted.jobs = row?.n ?? 0;
    counted.runs = await countOf('runs', 'job_id');
    counted.events = await countOf('events', 'job_id');
    counted.quarantined = await countOf('quarantined_results', 'job_id');
    counted.credentials = await countOf('tokens', 'job_id');
  }
  const eventsBefore = request.eventsBefore;
  if (eventsBefore !== undefined) {
    const row = await ctx.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('at', '<', eventsBefore)
      .where((eb) =>
        eb.or([
          eb('job_id', 'is', null),
          eb(
            'job_id',
            'in',
            ctx.db
              .selectFrom('jobs')
              .select('id')
              .where('stage', 'in', TERMINAL_STAGES)
              .where((j) => j.not(removable(j))),
          ),
        ]),
      )
      .executeTakeFirst();
    counted.events += row?.n ?? 0;
  }
  return counted;
}
