/**
 * Bulk data for the data-scale section: jobs and their events generated in SQL, straight into the
 * database a coordinator serves (SQLite: `WITH RECURSIVE` in one transaction per chunk on a second
 * connection; PostgreSQL: `generate_series`). Each generated job copies a template job's columns (so a
 * column another migration adds is copied too) with its own id, title, stage and times: one in
 * `QUEUED_EVERY` is queued (claimable), the rest shipped; `EVENTS_PER_JOB` `tool.call` events each.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

export const EVENTS_PER_JOB = 20;
export const QUEUED_EVERY = 20;
/** Jobs per transaction while generating. */
const CHUNK = 50_000;

/** Generated job ids: `00` and the number on 24 digits, older (smaller) than any real ULID. */
export function bulkJobId(n: number): string {
  return `00${String(n).padStart(24, '0')}`;
}

export interface BulkFiller {
  /** Adds generated jobs numbered `from`…`to` (inclusive) and their events. */
  addJobs(from: number, to: number): Promise<void>;
  /** Adds `count` events to one job. */
  addEvents(jobId: string, count: number): Promise<void>;
  close(): Promise<void>;
}

/** The SELECT list copying the template `t` with the generated columns replaced. */
function selectList(columns: readonly string[], generated: Readonly<Record<string, string>>): string {
  return columns.map((column) => generated[column] ?? `t.${column}`).join(', ');
}

function generatedColumns(id: string, n: string, base: number): Record<string, string> {
  const queued = `(${n} % ${String(QUEUED_EVERY)} = 0)`;
  const at = `(${String(base)} + ${n})`;
  return {
    id,
    title: `'bulk job ' || ${n}`,
    stage: `case when ${queued} then 'queued' else 'shipped' end`,
    lease_epoch: `case when ${queued} then 0 else 1 end`,
    attempts: `case when ${queued} then 0 else 1 end`,
    run_after: at,
    created_at: at,
    updated_at: at,
    idempotency_key: 'null',
    submission_hash: 'null',
    lease_factory: 'null',
    lease_expires_at: 'null',
  };
}

const EVENT_PAYLOAD = `'{"tool":"read","durationMs":3,"ok":true}'`;

export function sqliteFiller(path: string, templateId: string, base: number): BulkFiller {
  const db = new BetterSqlite3(path);
  db.pragma('busy_timeout = 30000');
  const columns = (db.prepare(`select name from pragma_table_info('jobs')`).all() as { name: string }[]).map(
    (row) => row.name,
  );
  const id = `'00' || printf('%024d', n)`;
  const insertJobs = db.prepare(
    `insert into jobs (${columns.join(', ')})
     with recursive s(n) as (select ? union all select n + 1 from s where n < ?)
     select ${selectList(columns, generatedColumns(id, 'n', base))} from s, jobs t where t.id = ?`,
  );
  const insertEvents = db.prepare(
    `insert into events (at, product, job_id, epoch, type, actor, payload)
     with recursive s(n) as (select ? union all select n + 1 from s where n < ?),
       k(i) as (select 1 union all select i + 1 from k where i < ${String(EVENTS_PER_JOB)})
     select ${String(base)} + n * 10 + i, t.product, ${id}, 1, 'tool.call', 'factory', ${EVENT_PAYLOAD}
     from s, k, jobs t where t.id = ?`,
  );
  const insertManyEvents = db.prepare(
    `insert into events (at, product, job_id, epoch, type, actor, payload)
     with recursive k(i) as (select 1 union all select i + 1 from k where i < ?)
     select ${String(base)} + i, t.product, t.id, t.lease_epoch, 'tool.call', 'factory', ${EVENT_PAYLOAD}
     from k, jobs t where t.id = ?`,
  );
  return {
    addJobs(from, to) {
      for (let start = from; start <= to; start += CHUNK) {
        const end = Math.min(to, start + CHUNK - 1);
        db.transaction(() => {
          insertJobs.run(start, end, templateId);
          insertEvents.run(start, end, templateId);
        })();
      }
      return Promise.resolve();
    },
    addEvents(jobId, count) {
      insertManyEvents.run(count, jobId);
      return Promise.resolve();
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

export async function postgresFiller(url: string, templateId: string, base: number): Promise<BulkFiller> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const columns = (
    await client.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_name = 'jobs' and table_schema = current_schema() order by ordinal_position`,
    )
  ).rows.map((row) => row.column_name);
  const id = `'00' || lpad(n::text, 24, '0')`;
  return {
    async addJobs(from, to) {
      for (let start = from; start <= to; start += CHUNK) {
        const end = Math.min(to, start + CHUNK - 1);
        await client.query('begin');
        await client.query(
          `insert into jobs (${columns.join(', ')})
           select ${selectList(columns, generatedColumns(id, 'n', base))}
           from generate_series($1::bigint, $2::bigint) n, jobs t where t.id = $3`,
          [start, end, templateId],
        );
        await client.query(
          `insert into events (at, product, job_id, epoch, type, actor, payload)
           select ${String(base)} + n * 10 + i, t.product, ${id}, 1, 'tool.call', 'factory', ${EVENT_PAYLOAD}
           from generate_series($1::bigint, $2::bigint) n, generate_series(1, ${String(EVENTS_PER_JOB)}) i, jobs t
           where t.id = $3`,
          [start, end, templateId],
        );
        await client.query('commit');
      }
      await client.query('analyze jobs');
      await client.query('analyze events');
    },
    async addEvents(jobId, count) {
      await client.query(
        `insert into events (at, product, job_id, epoch, type, actor, payload)
         select ${String(base)} + i, t.product, t.id, t.lease_epoch, 'tool.call', 'factory', ${EVENT_PAYLOAD}
         from generate_series(1, $1::int) i, jobs t where t.id = $2`,
        [count, jobId],
      );
    },
    async close() {
      await client.end();
    },
  };
}
