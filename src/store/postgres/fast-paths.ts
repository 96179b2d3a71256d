/**
 * PostgreSQL fast paths: the hottest writes (claim, a fenced stage report, a renew) as one statement
 * each, with data-modifying CTEs, instead of five or six round trips in a transaction. Each statement
 * is still atomic (the job row, the run and the events change together). A report or renew does exactly
 * what the shared path in `lease-queries.ts` does for the same input (the conformance suite runs both);
 * the claim has no other path, and does what `sqlite/fast-paths.ts` does. When the
 * fence (epoch, holder, expiry) or stage guard does not pass, the statement changes nothing and returns no row; the caller then
 * takes the shared path, which names the reason (404, 409 or 422). A subtask's final report (shipped,
 * or failed for good) is left to the shared path too, which settles the parent in the same transaction.
 * A submission without an idempotency key is one statement too (the job and its `job.created` event).
 *
 * Claims and moves that arrive while earlier ones are in flight go together, several in one statement
 * (`statement-batches.ts`): the same CTEs over the calls as rows, each call's rows
 * told apart by its place in the batch (`batch_n`).
 */
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type pg from 'pg';
import type { JobRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { ClaimFilters, FastPaths, FencedMove } from '../backend.js';
import { StatementBatcher } from './statement-batches.js';

type ClaimInput = Parameters<FastPaths['claim']>[0];

/** Most jobs one claim statement takes for all the calls in it: a single call's own maximum (`MAX_CLAIM_JOBS`). */
const MAX_BATCH_CLAIM = 100;

/** Claim order: highest priority first, then oldest (ids sort by time). */
const byClaimOrder = (a: JobRow, b: JobRow): number =>
  b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** A row of a batch statement: which call of the batch it answers. */
type BatchRow = JobRow & { batch_n: number };

const claimKey = (input: ClaimInput): string => `${input.product}\0${JSON.stringify(input.capabilities)}`;

/** The `job.claimed` event's payload. */
const claimedPayload = (factoryId: string, leaseExpiresAt: number): string =>
  JSON.stringify({ from: 'queued', to: 'assigned', factoryId, leaseExpiresAt });

/** A JSON column's or parameter's text; null when absent (the column keeps its value). */
const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

export function postgresFastPaths(db: Kysely<Database>, pool: pg.Pool, filters: ClaimFilters): FastPaths {
  /**
   * Runs a statement as a named prepared statement: these CTEs take longer to plan than to run, and
   * their text never changes (every value is a parameter), so each connection plans them once.
   */
  const prepared = async (name: string, query: RawBuilder<JobRow>): Promise<JobRow[]> => {
    const compiled = query.compile(db);
    const result = await pool.query<JobRow>({ name, text: compiled.sql, values: [...compiled.parameters] });
    return result.rows;
  };
  const preparedRow = async (name: string, query: RawBuilder<JobRow>): Promise<JobRow | undefined> =>
    (await prepared(name, query))[0];
  /**
   * A batch's calls as rows (the caller names the columns): one JSON document each, so the planner
   * guesses ten rows, where `jsonb_to_recordset` makes it guess a hundred and scan whole tables.
   */
  const calledWith = (calls: readonly object[]) =>
    sql`unnest(${calls.map((call) => JSON.stringify(call))}::jsonb[]) as call(doc) cross join lateral jsonb_to_record(call.doc)`;
  /** Each call's rows of a batch statement, by the call's place in the batch. */
  const byCall = (rows: JobRow[], calls: number): JobRow[][] => {
    const answers = Array.from({ length: calls }, (): JobRow[] => []);
    for (const row of rows as BatchRow[]) {
      const { batch_n: n, ...job } = row;
      answers[n]?.push(job);
    }
    return answers;
  };

  const claimOne = async ({ product, factoryId, capabilities, now, expiresAt, limit }: ClaimInput) => {
    const payload = claimedPayload(factoryId, expiresAt);
    // The limit is a literal, one statement per value: with `limit $n` the planner cannot trust a plan
    // made once (it guesses a tenth of the queue and hash-joins the whole table), so it planned every
    // claim again, and planning cost more than running it (0.9 ms a claim that way, 0.5 ms this way).
    const rows = await prepared(
      `conveyor_claim_v4_${String(Math.trunc(limit))}`,
      sql<JobRow>`
      with pick as (
        select id from jobs
        where product = ${product} and stage = 'queued' and run_after <= ${now} and ${filters.capabilitiesMatch(capabilities)}
          and ${filters.orderingSatisfied()}
        order by priority desc, id
        limit ${sql.lit(Math.trunc(limit))}
        for update skip locked
      ), upd as (
        update jobs j
        set stage = 'assigned', lease_epoch = j.lease_epoch + 1, lease_factory = ${factoryId},
            lease_expires_at = ${expiresAt}, updated_at = ${now}
        from pick where j.id = pick.id
        returning j.*
      ), run as (
        insert into runs (job_id, epoch, factory_id, started_at, ended_at, outcome)
        select id, lease_epoch, ${factoryId}, ${now}, null, null from upd
        returning 1
      ), ev as (
        insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
        select ${now}, product, id, lease_epoch, 'job.claimed', 'coordinator', ${payload}, null, null from upd
        returning 1
      )
      select * from upd`,
    );
    // `returning` keeps no order: the claim order, as the shared path answers.
    return rows.sort(byClaimOrder);
  };

  /**
   * Several factories' claims of one product and capabilities in one statement: the jobs the calls
   * would take one after another (the first call's `limit` first, in claim order), each call's with its
   * own lease, run and `job.claimed` event.
   */
  const claimMany = async (calls: readonly ClaimInput[]) => {
    const [first] = calls;
    if (first === undefined) return [];
    const total = calls.reduce((sum, call) => sum + Math.trunc(call.limit), 0);
    const requests = calls.map((call, n) => ({
      n,
      factory: call.factoryId,
      lim: Math.trunc(call.limit),
      now: call.now,
      expires: call.expiresAt,
      payload: claimedPayload(call.factoryId, call.expiresAt),
    }));
    // A job is claimable from the earliest call's `now` on, as if that call had taken it.
    const now = Math.min(...calls.map((call) => call.now));
    const rows = await prepared(
      `conveyor_claims_v2_${String(total)}`,
      sql<JobRow>`
      with req as (
        select r.*, sum(r.lim) over (order by r.n) - r.lim as before
        from ${calledWith(requests)}
          as r(n int, factory text, lim int, now bigint, expires bigint, payload text)
      ), pick as (
        select id, ctid as tid, priority from jobs
        where product = (select ${first.product}::text) and stage = 'queued' and run_after <= (select ${now}::bigint)
          and ${filters.capabilitiesMatch(first.capabilities)} and ${filters.orderingSatisfied()}
        order by priority desc, id
        limit ${sql.lit(total)}
        for update skip locked
      ), ranked as (
        select tid, row_number() over (order by priority desc, id) as k from pick
      ), assigned as (
        select ranked.tid, req.n, req.factory, req.now, req.expires, req.payload
        from ranked join req on ranked.k > req.before and ranked.k <= req.before + req.lim
      ), upd as (
        update jobs j
        set stage = 'assigned', lease_epoch = j.lease_epoch + 1, lease_factory = a.factory,
            lease_expires_at = a.expires, updated_at = a.now
        -- By the row's place (ctid): locked above, so no one has moved it since.
        from assigned a where j.ctid = a.tid
        returning j.*, a.n as batch_n, a.payload as claim_payload
      ), run as (
        insert into runs (job_id, epoch, factory_id, started_at, ended_at, outcome)
        select id, lease_epoch, lease_factory, updated_at, null, null from upd
        returning 1
      ), ev as (
        insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
        select updated_at, product, id, lease_epoch, 'job.claimed', 'coordinator', claim_payload, null, null
        from upd order by batch_n, priority desc, id
        returning 1
      )
      select * from upd`,
    );
    return byCall(rows, calls.length).map((answer) =>
      answer
        .map((row) => {
          const { claim_payload: _payload, ...job } = row as JobRow & { claim_payload: unknown };
          return job;
        })
        .sort(byClaimOrder),
    );
  };

  const moveOne = async (move: FencedMove) => {
    const checkpoint = jsonOrNull(move.checkpoint);
    return preparedRow(
      'conveyor_move_v3',
      sql<JobRow>`
      with old as (
        select id, stage from jobs
        where id = ${move.jobId} and product = ${move.product} and lease_epoch = ${move.leaseEpoch}
          and lease_factory = ${move.factoryId} and lease_expires_at > ${move.now}
          and stage = any(${move.allowedFrom}::text[])
          -- A subtask's last move also settles its parent: the shared path does both in one transaction.
          and (parent_id is null or not ${move.endsJob}::boolean)
        for update
      ), upd as (
        update jobs j
        set stage = ${move.to}, updated_at = ${move.now},
            attempts = j.attempts + case when ${move.countAttempt}::boolean and j.attempts < j.max_attempts then 1 else 0 end,
            checkpoint = coalesce(${checkpoint}::text, j.checkpoint),
            result = coalesce(${jsonOrNull(move.result)}::text, j.result),
            error = coalesce(${jsonOrNull(move.error)}::text, j.error),
            lease_factory = case when ${move.endsRun}::boolean then null else j.lease_factory end,
            lease_expires_at = case when ${move.endsRun}::boolean then null else j.lease_expires_at end
        from old where j.id = old.id
        returning j.*, old.stage as old_stage
      ), ended as (
        update runs r set ended_at = ${move.now}, outcome = ${move.to}
        from upd where ${move.endsRun}::boolean and r.job_id = upd.id and r.epoch = upd.lease_epoch
        returning 1
      ), ev as (
        insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
        select ${move.now}, upd.product, upd.id, upd.lease_epoch, e.type, 'factory', e.payload, e.ends_run, e.ends_job
        from upd cross join lateral (values
          (1, 'checkpoint.saved',
            (jsonb_build_object('stage', upd.old_stage) || coalesce(${checkpoint}::jsonb, '{}'::jsonb))::text,
            null::int, null::int),
          (2, 'stage.changed',
            (jsonb_build_object('from', upd.old_stage, 'to', upd.stage) || ${JSON.stringify(move.payload)}::jsonb)::text,
            case when ${move.endsRun}::boolean then 1 end, case when ${move.endsJob}::boolean then 1 end)
        ) as e(n, type, payload, ends_run, ends_job)
        where (e.n = 1 and ${checkpoint}::text is not null) or (e.n = 2 and upd.old_stage <> upd.stage)
        order by e.n
        returning 1
      )
      select * from upd`,
    );
  };

  /** Several moves of distinct jobs in one statement: `moveOne`'s CTEs over the calls as rows. */
  const moveMany = async (moves: readonly FencedMove[]) => {
    const calls = moves.map((move, n) => ({
      n,
      id: move.jobId,
      product: move.product,
      epoch: move.leaseEpoch,
      factory: move.factoryId,
      now: move.now,
      to: move.to,
      allowed: move.allowedFrom,
      ends_run: move.endsRun,
      ends_job: move.endsJob,
      count_attempt: move.countAttempt,
      checkpoint: jsonOrNull(move.checkpoint),
      result: jsonOrNull(move.result),
      error: jsonOrNull(move.error),
      payload: move.payload,
    }));
    const rows = await prepared(
      'conveyor_moves_v1',
      sql<JobRow>`
      with m as (
        select m.* from ${calledWith(calls)} as m(
          n int, id text, product text, epoch int, factory text, now bigint, "to" text, allowed text[],
          ends_run boolean, ends_job boolean, count_attempt boolean,
          checkpoint text, result text, error text, payload jsonb)
      ), old as (
        -- Job by job through the primary key, then updated by the locked row's place (ctid), in one lock
        -- order for every batch, so two batches (or coordinators) cannot deadlock on their rows.
        select j.tid, j.stage, m.n
        from (select * from m order by id) m
        cross join lateral (
          select ctid as tid, stage from jobs
          where jobs.id = m.id and jobs.product = m.product and jobs.lease_epoch = m.epoch
            and jobs.lease_factory = m.factory and jobs.lease_expires_at > m.now and jobs.stage = any(m.allowed)
            and (jobs.parent_id is null or not m.ends_job)
          for update
        ) j
      ), upd as (
        update jobs j
        set stage = m."to", updated_at = m.now,
            attempts = j.attempts + case when m.count_attempt and j.attempts < j.max_attempts then 1 else 0 end,
            checkpoint = coalesce(m.checkpoint, j.checkpoint),
            result = coalesce(m.result, j.result),
            error = coalesce(m.error, j.error),
            lease_factory = case when m.ends_run then null else j.lease_factory end,
            lease_expires_at = case when m.ends_run then null else j.lease_expires_at end
        from old join m on m.n = old.n where j.ctid = old.tid
        returning j.*, old.stage as old_stage, m.n as batch_n
      ), ending as (
        -- The runs these moves end, found by primary key and updated by ctid as the jobs are: only a move
        -- that ends a run changes it, under the job's lock, which these moves hold.
        select r.tid, m.now, m."to"
        from upd join m on m.n = upd.batch_n
        cross join lateral (
          -- At most one (the primary key); the limit also keeps the planner from making this a join.
          select ctid as tid from runs where runs.job_id = upd.id and runs.epoch = upd.lease_epoch limit 1
        ) r
        where m.ends_run
      ), ended as (
        update runs r set ended_at = ending.now, outcome = ending."to"
        from ending where r.ctid = ending.tid
        returning 1
      ), ev as (
        insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
        select m.now, upd.product, upd.id, upd.lease_epoch, e.type, 'factory', e.payload, e.ends_run, e.ends_job
        from upd join m on m.n = upd.batch_n cross join lateral (values
          (1, 'checkpoint.saved',
            (jsonb_build_object('stage', upd.old_stage) || coalesce(m.checkpoint::jsonb, '{}'::jsonb))::text,
            null::int, null::int),
          (2, 'stage.changed',
            (jsonb_build_object('from', upd.old_stage, 'to', upd.stage) || m.payload)::text,
            case when m.ends_run then 1 end, case when m.ends_job then 1 end)
        ) as e(k, type, payload, ends_run, ends_job)
        where (e.k = 1 and m.checkpoint is not null) or (e.k = 2 and upd.old_stage <> upd.stage)
        order by m.n, e.k
        returning 1
      )
      select * from upd`,
    );
    return byCall(rows, moves.length).map((answer) => answer[0]);
  };

  const claims = new StatementBatcher<ClaimInput, JobRow[]>({
    fits: (batch, call) =>
      batch[0] !== undefined &&
      claimKey(batch[0]) === claimKey(call) &&
      batch.reduce((sum, c) => sum + c.limit, call.limit) <= MAX_BATCH_CLAIM,
    one: claimOne,
    many: claimMany,
  });
  const moves = new StatementBatcher<FencedMove, JobRow | undefined>({
    fits: () => true,
    key: (move) => move.jobId,
    one: moveOne,
    many: moveMany,
  });

  return {
    claim: (input) => claims.run(input),
    move: (move) => moves.run(move),

    async submit(row, payload) {
      const inserted = await preparedRow(
        'conveyor_submit_v1',
        sql<JobRow>`
        with ins as (${db.insertInto('jobs').values(row).returningAll()}),
        ev as (
          insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
          select created_at, product, id, 0, 'job.created', 'human', ${JSON.stringify(payload)}, null, null from ins
          returning 1
        )
        select * from ins`,
      );
      if (inserted === undefined) throw new Error('job insert returned no row');
      return inserted;
    },

    async renew({ product, jobId, leaseEpoch, factoryId, now, expiresAt, activeStages }) {
      const payload = JSON.stringify({ leaseExpiresAt: expiresAt });
      return preparedRow(
        'conveyor_renew_v2',
        sql<JobRow>`
        with upd as (
          update jobs set lease_expires_at = ${expiresAt}, updated_at = ${now}
          where id = ${jobId} and product = ${product} and lease_epoch = ${leaseEpoch}
            and lease_factory = ${factoryId} and lease_expires_at > ${now} and stage = any(${activeStages}::text[])
          returning *
        ), ev as (
          insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
          select ${now}, product, id, lease_epoch, 'lease.renewed', 'factory', ${payload}, null, null from upd
          returning 1
        )
        select * from upd`,
      );
    },
  };
}
