/** Submitting a job, and reading jobs, their runs and the event stream. */
import { createHash } from 'node:crypto';
import { type SqlBool, sql } from 'kysely';
import { IdempotencyConflictError } from '../core/errors.js';
import type { ConveyorEvent, Job, Run } from '../core/job.js';
import type { Stage } from '../core/stages.js';
import * as family from './family-queries.js';
import { type JobRow, json, queuedJobRow, toEvent, toJob, toRun } from './rows.js';
import { appendEvents, newId, requireJob, type StoreContext, type Trx } from './store-context.js';
import type { JobsTable } from './schema.js';
import type { EventCursorQuery, EventPage, JobFilter, NewJob } from './store.js';

/**
 * Inserts the job, or answers the job submitted earlier with the same idempotency key when the
 * submission is the same; the same key with a different submission is an `IdempotencyConflictError`.
 */
export async function submit(ctx: StoreContext, input: NewJob): Promise<{ job: Job; created: boolean }> {
  const now = ctx.clock.now();
  const hash = input.idempotencyKey === null ? null : submissionHash(input);
  const replay = (existing: JobRow): { job: Job; created: false } => {
    // Jobs stored before submissions were hashed have none: they cannot be told apart, so they match.
    if (existing.submission_hash !== null && existing.submission_hash !== hash) {
      throw new IdempotencyConflictError(existing.idempotency_key ?? '', existing.id);
    }
    return { job: toJob(existing), created: false };
  };
  const created = { title: input.title, source: input.source, to: 'queued' as const };
  // Parked claims wake as soon as the job is committed: a claim is answered only once a flush that
  // covers its own commit, and so this one, has ended.
  const wake = (): void => {
    const submitted = { capabilities: input.requiredCapabilities };
    ctx.emit({ kind: 'jobs', product: input.product, submitted }, { kind: 'events' });
  };
  const fast = ctx.backend.fastPaths;
  if (fast.submit !== undefined && input.idempotencyKey === null) {
    const job = toJob(await fast.submit(newJobRow(now, input, hash), created));
    wake();
    return { job, created: true };
  }
  return submitInTransaction(ctx, now, input, hash, created, replay, wake);
}

/** The new job's row, queued now. */
function newJobRow(now: number, input: NewJob, hash: string | null): JobsTable {
  return queuedJobRow(now, {
    id: newId(now),
    product: input.product,
    title: input.title,
    body: input.body,
    source: input.source,
    repo: input.repo,
    base_ref: input.base,
    target_branch: input.target,
    required_capabilities: json(input.requiredCapabilities),
    priority: input.priority,
    max_attempts: input.maxAttempts,
    spec: json(input.spec),
    idempotency_key: input.idempotencyKey,
    submission_hash: hash,
  });
}

/** The shared path: the key looked up, the job inserted (or the earlier one replayed) and its event, in one transaction. */
function submitInTransaction(
  ctx: StoreContext,
  now: number,
  input: NewJob,
  hash: string | null,
  created: { title: string; source: string; to: 'queued' },
  replay: (existing: JobRow) => { job: Job; created: false },
  wake: () => void,
): Promise<{ job: Job; created: boolean }> {
  const committed = (result: { created: boolean }): void => {
    if (result.created) wake();
  };
  return ctx.backend.writeTransaction(async (trx) => {
    if (input.idempotencyKey !== null) {
      const existing = await findByIdempotencyKey(trx, input.product, input.idempotencyKey);
      if (existing !== undefined) return replay(existing);
    }
    const row = await trx
      .insertInto('jobs')
      .values(newJobRow(now, input, hash))
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) {
      // A concurrent submit with the same idempotency key won the insert.
      const existing = await findByIdempotencyKey(trx, input.product, input.idempotencyKey ?? '');
      if (existing === undefined) throw new Error('job insert conflicted but no job with that key exists');
      return replay(existing);
    }
    await appendEvents(trx, now, [
      { product: row.product, jobId: row.id, epoch: 0, type: 'job.created', actor: 'human', payload: created },
    ]);
    return { job: toJob(row), created: true };
  }, committed);
}

/**
 * SHA-256 of the normalised submission as JSON with its keys sorted: what the job is, not the key nor
 * its `metadata` (labels and bookkeeping, such as the queue folder's file name for a re-dropped file).
 */
function submissionHash(input: NewJob): string {
  const { idempotencyKey: _key, spec, ...fields } = input;
  const { metadata: _metadata, ...work } = spec;
  const canonical = JSON.stringify({ ...fields, spec: work }, (_name, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
  return createHash('sha256').update(canonical).digest('hex');
}

function findByIdempotencyKey(trx: Trx, product: string, key: string): Promise<JobRow | undefined> {
  return trx
    .selectFrom('jobs')
    .selectAll()
    .where('product', '=', product)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

export async function findJobByKey(ctx: StoreContext, product: string, key: string): Promise<Job | undefined> {
  const row = await findByIdempotencyKey(ctx.db, product, key);
  return row === undefined ? undefined : toJob(row);
}

export async function getJob(ctx: StoreContext, product: string, id: string): Promise<Job | undefined> {
  const row = await ctx.db
    .selectFrom('jobs')
    .selectAll()
    .where('id', '=', id)
    .where('product', '=', product)
    .executeTakeFirst();
  return row === undefined ? undefined : toJob(row);
}

export async function listJobs(ctx: StoreContext, filter: JobFilter): Promise<Job[]> {
  let query = ctx.db.selectFrom('jobs').selectAll().where('product', '=', filter.product);
  if (filter.stages !== undefined && filter.stages.length > 0) query = query.where('stage', 'in', filter.stages);
  if (filter.parentId !== undefined) query = query.where('parent_id', '=', filter.parentId);
  if (filter.before !== undefined) query = query.where('id', '<', filter.before);
  if (filter.text !== undefined && filter.text !== '') {
    const pattern = `%${filter.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // Backslash escapes the LIKE wildcards in what the user typed; both backends accept `escape`.
    query = query.where(
      sql<SqlBool>`(lower(title) like ${pattern} escape '\\' or lower(body) like ${pattern} escape '\\')`,
    );
  }
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toJob);
}

export async function listChildren(ctx: StoreContext, product: string, parentId: string): Promise<Job[]> {
  return (await family.childRows(ctx.db, product, parentId)).map(toJob);
}

export async function countByStage(ctx: StoreContext): Promise<{ product: string; stage: Stage; count: number }[]> {
  const rows = await ctx.db
    .selectFrom('jobs')
    .select(['product', 'stage', (eb) => eb.fn.countAll<number | string>().as('count')])
    .groupBy(['product', 'stage'])
    .execute();
  return rows.map((r) => ({ product: r.product, stage: r.stage as Stage, count: Number(r.count) }));
}

/**
 * The queued jobs a claim could take now (due, not waiting on a sibling), counted per required
 * capability set: one grouped query, whatever the length of the queue (submission stores each set
 * sorted and without duplicates, so equal sets are equal text).
 */
export async function claimableByCapabilities(
  ctx: StoreContext,
  product: string,
): Promise<{ capabilities: string[]; jobs: number }[]> {
  const rows = await ctx.db
    .selectFrom('jobs')
    .select(['required_capabilities', (eb) => eb.fn.countAll<number | string>().as('jobs')])
    .where('product', '=', product)
    .where('stage', '=', 'queued')
    .where('run_after', '<=', ctx.clock.now())
    .where(ctx.backend.orderingSatisfied())
    .groupBy('required_capabilities')
    .execute();
  return rows.map((r) => ({ capabilities: JSON.parse(r.required_capabilities) as string[], jobs: Number(r.jobs) }));
}

export async function jobRuns(ctx: StoreContext, product: string, jobId: string): Promise<Run[]> {
  await requireJob(ctx.db, product, jobId);
  const rows = await ctx.db.selectFrom('runs').selectAll().where('job_id', '=', jobId).orderBy('epoch').execute();
  return rows.map(toRun);
}

export async function jobEvents(
  ctx: StoreContext,
  product: string,
  jobId: string,
  page: EventPage = {},
): Promise<ConveyorEvent[]> {
  await requireJob(ctx.db, product, jobId);
  // The job's id through a subquery: PostgreSQL then plans for a job of average size and walks the
  // `events_job` (job_id, seq) index. Given the id itself it may walk the whole log by seq instead,
  // filtering for the job, which takes as long as the log is when the job's events are at its far end.
  const job = ctx.db.selectFrom('jobs').select('id').where('id', '=', jobId);
  let query = ctx.db.selectFrom('events').selectAll().where('job_id', '=', job);
  if (page.after !== undefined) query = query.where('seq', '>', page.after);
  if (page.last !== undefined) {
    if (page.before !== undefined) query = query.where('seq', '<', page.before);
    // The newest `last`, read newest first, answered in seq order.
    return (await query.orderBy('seq', 'desc').limit(page.last).execute()).reverse().map(toEvent);
  }
  query = query.orderBy('seq');
  if (page.limit !== undefined) query = query.limit(page.limit);
  return (await query.execute()).map(toEvent);
}

/** The event stream after a cursor, in the backend's commit-safe order (see `Store.readEvents`). */
export async function readEvents(ctx: StoreContext, query: EventCursorQuery): Promise<ConveyorEvent[]> {
  return (await ctx.backend.readEvents(query)).map(toEvent);
}
