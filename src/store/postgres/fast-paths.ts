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
 */
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type pg from 'pg';
import type { JobRow } from '../rows.js';
import type { Database } from '../schema.js';
import type { ClaimFilters, FastPaths, FencedMove } from '../backend.js';

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

  return {
    async claim({ product, factoryId, capabilities, now, expiresAt, limit }) {
      const payload = JSON.stringify({ from: 'queued', to: 'assigned', factoryId, leaseExpiresAt: expiresAt });
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
      return rows.sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async move(move: FencedMove) {
      const checkpoint = move.checkpoint === undefined ? null : JSON.stringify(move.checkpoint);
      const value = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
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
              result = coalesce(${value(move.result)}::text, j.result),
              error = coalesce(${value(move.error)}::text, j.error),
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
    },

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
