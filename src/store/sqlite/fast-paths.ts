/**
 * SQLite fast paths: the hottest writes (claim, a fenced stage report, a renew) as a few prepared
 * statements run straight on the connection, inside one write transaction of the group commit
 * (`transactions.ts`). The shared path in `lease-queries.ts` builds, compiles and runs five or six queries
 * through Kysely for the same write; on SQLite, where a statement is a call into the library, that
 * building cost more than the statements themselves. A report or renew does exactly what the shared
 * path does for the same input (the conformance suite runs both); the claim has no other path, and does
 * what `postgres/fast-paths.ts` does. When the fence (epoch, holder, expiry) or the
 * stage guard does not pass, it changes nothing and returns no row; the caller then takes the shared
 * path, which names the reason (404, 409 or 422). A subtask's final report (shipped, or failed for
 * good) is left to the shared path too, which settles the parent in the same transaction.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { ClaimFilters, FastPaths, FencedMove, Transactions } from '../backend.js';
import type { JobRow } from '../rows.js';
import type { Database } from '../schema.js';

/** A prepared statement as better-sqlite3 gives it (only what these paths call). */
export interface PreparedStatement {
  all(...parameters: unknown[]): unknown[];
  get(...parameters: unknown[]): unknown;
  run(...parameters: unknown[]): unknown;
}

/** Prepares `text` on the store's one connection, or returns it already prepared. */
export type Prepare = (text: string) => PreparedStatement;

const INSERT_EVENT = `insert into events (at, product, job_id, epoch, type, actor, payload, ends_run, ends_job)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const CLAIM_ONE = `update jobs
  set stage = 'assigned', lease_epoch = lease_epoch + 1, lease_factory = ?, lease_expires_at = ?, updated_at = ?
  where id = ? and stage = 'queued'
  returning *`;

const INSERT_RUN = `insert into runs (job_id, epoch, factory_id, started_at, ended_at, outcome)
  values (?, ?, ?, ?, null, null)`;

/**
 * A statement whose `in` list holds one parameter per stage, made once per count of stages: such a list is
 * twice as fast as `in (select value from json_each(?))`.
 */
function perStageCount(make: (placeholders: string) => string): (stages: number) => string {
  const made: string[] = [];
  return (stages) => (made[stages] ??= make(Array.from({ length: stages }, () => '?').join(', ')));
}

/** The job as the move finds it, when its fence and stage guard pass. */
const moveGuard = perStageCount(
  (stages) => `select stage, attempts, max_attempts from jobs
  where id = ? and product = ? and lease_epoch = ? and lease_factory = ? and lease_expires_at > ?
    and (parent_id is null or not ?) and stage in (${stages})`,
);

const MOVE = `update jobs
  set stage = ?, updated_at = ?, attempts = ?,
      checkpoint = coalesce(?, checkpoint), result = coalesce(?, result), error = coalesce(?, error),
      lease_factory = case when ? then null else lease_factory end,
      lease_expires_at = case when ? then null else lease_expires_at end
  where id = ?
  returning *`;

const END_RUN = 'update runs set ended_at = ?, outcome = ? where job_id = ? and epoch = ?';

const renewing = perStageCount(
  (stages) => `update jobs set lease_expires_at = ?, updated_at = ?
  where id = ? and product = ? and lease_epoch = ? and lease_factory = ? and lease_expires_at > ?
    and stage in (${stages})
  returning *`,
);

interface Guarded {
  stage: string;
  attempts: number;
  max_attempts: number;
}

/**
 * The jobs a claim takes, in claim order. The literal stage lets SQLite walk the partial index
 * `jobs_claim`; the literal limit (an integer the route has checked, one statement per value) lets it stop
 * at the first rows that pass: with `limit ?` the same query takes ten times longer.
 */
export function claimPick(
  filters: ClaimFilters,
  input: { product: string; capabilities: string[]; now: number; limit: number },
): RawBuilder<{ id: string }> {
  return sql<{ id: string }>`select id from jobs
    where product = ${input.product} and stage = 'queued' and run_after <= ${input.now}
      and ${filters.capabilitiesMatch(input.capabilities)} and ${filters.orderingSatisfied()}
    order by priority desc, id
    limit ${sql.lit(Math.trunc(input.limit))}`;
}

const flag = (on: boolean): number | null => (on ? 1 : null);
const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

export function sqliteFastPaths(
  db: Kysely<Database>,
  prepare: Prepare,
  transactions: Transactions,
  filters: ClaimFilters,
): FastPaths {
  const event = (row: JobRow, now: number, type: string, actor: string, payload: object, ends: [boolean, boolean]) =>
    prepare(INSERT_EVENT).run(
      now,
      row.product,
      row.id,
      row.lease_epoch,
      type,
      actor,
      JSON.stringify(payload),
      flag(ends[0]),
      flag(ends[1]),
    );

  return {
    claim({ product, factoryId, capabilities, now, expiresAt, limit }) {
      const pick = claimPick(filters, { product, capabilities, now, limit }).compile(db);
      return transactions.writeTransaction(() => {
        const picked = prepare(pick.sql).all(...pick.parameters) as { id: string }[];
        const rows: JobRow[] = [];
        for (const { id } of picked) {
          const row = prepare(CLAIM_ONE).get(factoryId, expiresAt, now, id) as JobRow;
          prepare(INSERT_RUN).run(row.id, row.lease_epoch, factoryId, now);
          const payload = { from: 'queued', to: 'assigned', factoryId, leaseExpiresAt: expiresAt };
          event(row, now, 'job.claimed', 'coordinator', payload, [false, false]);
          rows.push(row);
        }
        return Promise.resolve(rows);
      });
    },

    move(move: FencedMove) {
      return transactions.writeTransaction(() => {
        const old = prepare(moveGuard(move.allowedFrom.length)).get(
          move.jobId,
          move.product,
          move.leaseEpoch,
          move.factoryId,
          move.now,
          move.endsJob ? 1 : 0,
          ...move.allowedFrom,
        ) as Guarded | undefined;
        if (old === undefined) return Promise.resolve(undefined);
        const attempts = move.countAttempt ? Math.min(old.attempts + 1, old.max_attempts) : old.attempts;
        const row = prepare(MOVE).get(
          move.to,
          move.now,
          attempts,
          jsonOrNull(move.checkpoint),
          jsonOrNull(move.result),
          jsonOrNull(move.error),
          move.endsRun ? 1 : 0,
          move.endsRun ? 1 : 0,
          move.jobId,
        ) as JobRow;
        if (move.endsRun) prepare(END_RUN).run(move.now, move.to, row.id, row.lease_epoch);
        if (move.checkpoint !== undefined) {
          const payload = { ...move.checkpoint, stage: old.stage };
          event(row, move.now, 'checkpoint.saved', 'factory', payload, [false, false]);
        }
        if (old.stage !== move.to) {
          const payload = { from: old.stage, to: move.to, ...move.payload };
          event(row, move.now, 'stage.changed', 'factory', payload, [move.endsRun, move.endsJob]);
        }
        return Promise.resolve(row);
      });
    },

    renew({ product, jobId, leaseEpoch, factoryId, now, expiresAt, activeStages }) {
      return transactions.writeTransaction(() => {
        const row = prepare(renewing(activeStages.length)).get(
          expiresAt,
          now,
          jobId,
          product,
          leaseEpoch,
          factoryId,
          now,
          ...activeStages,
        ) as JobRow | undefined;
        if (row !== undefined) {
          event(row, now, 'lease.renewed', 'factory', { leaseExpiresAt: expiresAt }, [false, false]);
        }
        return Promise.resolve(row);
      });
    },
  };
}
