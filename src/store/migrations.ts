/**
 * The one migration set, for both backends. Where the SQL must differ (auto-increment keys, the
 * PostgreSQL transaction id used to order the event stream), the migration asks which backend it runs on.
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { TERMINAL_STAGES } from '../core/stages.js';
import type { Database } from './schema.js';

export type BackendKind = 'sqlite' | 'postgres';

function migrations(kind: BackendKind): Record<string, Migration> {
  const pg = kind === 'postgres';
  return {
    '0001_init': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('jobs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('product', 'text', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('repo', 'text')
          .addColumn('base_ref', 'text')
          .addColumn('target_branch', 'text')
          .addColumn('required_capabilities', 'text', (c) => c.notNull())
          .addColumn('priority', 'integer', (c) => c.notNull())
          .addColumn('run_after', 'bigint', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('max_attempts', 'integer', (c) => c.notNull())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addColumn('idempotency_key', 'text')
          .addColumn('stage', 'text', (c) => c.notNull())
          .addColumn('lease_epoch', 'integer', (c) => c.notNull())
          .addColumn('lease_factory', 'text')
          .addColumn('lease_expires_at', 'bigint')
          .addColumn('checkpoint', 'text')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('clarifications', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('jobs_claim')
          .on('jobs')
          .columns(['product', 'priority desc', 'id'])
          .where(sql.ref('stage'), '=', 'queued')
          .execute();
        await db.schema
          .createIndex('jobs_leases')
          .on('jobs')
          .column('lease_expires_at')
          .where(sql.ref('lease_expires_at'), 'is not', null)
          .execute();
        await db.schema.createIndex('jobs_product_stage').on('jobs').columns(['product', 'stage', 'id']).execute();
        await db.schema
          .createIndex('jobs_idempotency')
          .unique()
          .on('jobs')
          .columns(['product', 'idempotency_key'])
          .where(sql.ref('idempotency_key'), 'is not', null)
          .execute();

        await db.schema
          .createTable('runs')
          .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id'))
          .addColumn('epoch', 'integer', (c) => c.notNull())
          .addColumn('factory_id', 'text', (c) => c.notNull())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('ended_at', 'bigint')
          .addColumn('outcome', 'text')
          .addPrimaryKeyConstraint('runs_pk', ['job_id', 'epoch'])
          .execute();

        await db.schema
          .createTable('events')
          .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('product', 'text', (c) => c.notNull())
          .addColumn('job_id', 'text')
          .addColumn('epoch', 'integer')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('ends_run', 'integer', (c) => c.check(sql`ends_run = 1`))
          .addColumn('ends_job', 'integer', (c) => c.check(sql`ends_job = 1`))
          .execute();
        if (pg) {
          // Sequence values are handed out before commit, so `seq` order is not commit order on
          // PostgreSQL. The stream is read in (transaction id, seq) order, only below the oldest
          // running transaction: see postgres/event-order.ts.
          await sql`alter table events add column tx_id xid8 not null default pg_current_xact_id()`.execute(db);
          await sql`create index events_stream on events (tx_id, seq)`.execute(db);
        }
        await db.schema.createIndex('events_job').on('events').columns(['job_id', 'seq']).execute();
        // At most one terminal event per run and per job life, enforced by the schema.
        await db.schema
          .createIndex('events_one_run_end')
          .unique()
          .on('events')
          .columns(['job_id', 'epoch'])
          .where(sql.ref('ends_run'), '=', 1)
          .execute();
        await db.schema
          .createIndex('events_one_job_end')
          .unique()
          .on('events')
          .columns(['job_id', 'epoch'])
          .where(sql.ref('ends_job'), '=', 1)
          .execute();

        await db.schema
          .createTable('factories')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('product', 'text', (c) => c.notNull())
          .addColumn('capabilities', 'text', (c) => c.notNull())
          .addColumn('health', 'text', (c) => c.notNull())
          .addColumn('load', 'integer', (c) => c.notNull())
          .addColumn('slots', 'integer')
          .addColumn('version', 'text')
          .addColumn('drain', 'integer', (c) => c.notNull())
          .addColumn('lost', 'integer', (c) => c.notNull())
          .addColumn('joined_at', 'bigint', (c) => c.notNull())
          .addColumn('last_heartbeat_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('product', 'text')
          .addColumn('label', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_quarantine': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Results produced under a lease that was lost: kept for a human, never shipped automatically.
        await db.schema
          .createTable('quarantined_results')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('product', 'text', (c) => c.notNull())
          .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id'))
          .addColumn('epoch', 'integer', (c) => c.notNull())
          .addColumn('factory_id', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('result', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('triage', 'text')
          .addColumn('triaged_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('quarantined_results_job')
          .on('quarantined_results')
          .columns(['job_id', 'epoch'])
          .execute();
      },
    },
    '0003_decomposition': {
      async up(db: Kysely<unknown>): Promise<void> {
        // A subtask names its parent and its place `position/siblings`. Its ordering is the list of
        // sibling positions it waits for (JSON, null when none): claims skip it until every one of those
        // siblings has shipped, which they check against the siblings' stages (see `Backend.orderingSatisfied`),
        // so there is no counter to keep in step. One column each (SQLite adds one column per statement).
        await db.schema
          .alterTable('jobs')
          .addColumn('parent_id', 'text', (c) => c.references('jobs.id'))
          .execute();
        await db.schema.alterTable('jobs').addColumn('position', 'integer').execute();
        await db.schema.alterTable('jobs').addColumn('siblings', 'integer').execute();
        await db.schema.alterTable('jobs').addColumn('after_positions', 'text').execute();
        await db.schema
          .createIndex('jobs_parent')
          .on('jobs')
          .columns(['parent_id', 'position'])
          .where(sql.ref('parent_id'), 'is not', null)
          .execute();
      },
    },
    '0004_token_factory': {
      async up(db: Kysely<unknown>): Promise<void> {
        // A factory token may be bound to one factory id (null: any factory of its product).
        await db.schema.alterTable('tokens').addColumn('factory_id', 'text').execute();
      },
    },
    '0005_submission_hash': {
      async up(db: Kysely<unknown>): Promise<void> {
        // The canonical submission's hash, so the same idempotency key with another body is a conflict.
        await db.schema.alterTable('jobs').addColumn('submission_hash', 'text').execute();
      },
    },
    '0006_token_lifecycle': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Tokens that can be managed: an optional expiry, the last use, and revocation (null: none).
        await db.schema.alterTable('tokens').addColumn('expires_at', 'bigint').execute();
        await db.schema.alterTable('tokens').addColumn('last_used_at', 'bigint').execute();
        await db.schema.alterTable('tokens').addColumn('revoked_at', 'bigint').execute();
      },
    },
    '0007_agent_credentials': {
      async up(db: Kysely<unknown>): Promise<void> {
        // An agent credential (role agent) is good for one job under one lease epoch.
        await db.schema.alterTable('tokens').addColumn('job_id', 'text').execute();
        await db.schema.alterTable('tokens').addColumn('lease_epoch', 'bigint').execute();
      },
    },
    '0008_forges': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Every verified webhook delivery of a forge, by its id: a redelivery is answered from here.
        await db.schema
          .createTable('forge_deliveries')
          .addColumn('forge', 'text', (c) => c.notNull())
          .addColumn('delivery_id', 'text', (c) => c.notNull())
          .addColumn('received_at', 'bigint', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('forge_deliveries_pk', ['forge', 'delivery_id'])
          .execute();
      },
    },
    '0009_forge_report': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Per forge: how far its report-back has read the event log, and which coordinator holds it.
        await db.schema
          .createTable('forge_report_cursors')
          .addColumn('forge', 'text', (c) => c.primaryKey())
          .addColumn('cursor', 'bigint', (c) => c.notNull())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('held_until', 'bigint', (c) => c.notNull())
          .execute();
        // Per job from a forge: its status comment, the stage label it carries, the last question posted.
        await db.schema
          .createTable('forge_report_jobs')
          .addColumn('job_id', 'text', (c) => c.primaryKey())
          .addColumn('forge', 'text', (c) => c.notNull())
          .addColumn('comment_id', 'text')
          .addColumn('body_hash', 'text')
          .addColumn('label', 'text')
          .addColumn('question_seq', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0010_scale_indexes': {
      async up(db: Kysely<unknown>): Promise<void> {
        // `GET /api/jobs` pages a product's jobs by id, newest first: without this, both backends read
        // every job of the product through (product, stage, id) and sort them (a 1M-job table: seconds).
        await db.schema.createIndex('jobs_product_id').on('jobs').columns(['product', 'id']).execute();
        // Retention takes finished jobs oldest first; only finished jobs are in it, so the moves of
        // active jobs never touch it.
        await db.schema
          .createIndex('jobs_finished')
          .on('jobs')
          .column('updated_at')
          .where(sql.ref('stage'), 'in', TERMINAL_STAGES)
          .execute();
      },
    },
    '0011_forge_poll': {
      async up(db: Kysely<unknown>): Promise<void> {
        // Per forge, repository and list (`issues`, `comments`): how far the poll has read, and the ETag of its last answer.
        await db.schema
          .createTable('forge_poll_cursors')
          .addColumn('forge', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('list', 'text', (c) => c.notNull())
          .addColumn('since', 'bigint')
          .addColumn('etag', 'text')
          .addPrimaryKeyConstraint('forge_poll_cursors_pk', ['forge', 'repo', 'list'])
          .execute();
      },
    },
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly kind: BackendKind) {}
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrations(this.kind));
  }
}

/** Brings the schema to the latest version; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<Database>, kind: BackendKind): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(kind),
    migrationTableName: 'conveyor_migrations',
    migrationLockTableName: 'conveyor_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed`, { cause: error });
  }
}
