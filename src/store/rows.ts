/** Mapping between stored rows and domain records. The only place that parses the JSON columns. */
import type { Selectable } from 'kysely';
import type {
  Clarification,
  ConveyorEvent,
  Factory,
  FactoryHealth,
  Job,
  JobResult,
  QuarantinedResult,
  JobSpec,
  TokenRole,
  Run,
  Token,
} from '../core/job.js';
import type { Actor, Stage } from '../core/stages.js';
import type {
  EventsTable,
  FactoriesTable,
  JobsTable,
  QuarantinedResultsTable,
  RunsTable,
  TokensTable,
} from './schema.js';

export type JobRow = Selectable<JobsTable>;
export type EventRow = Selectable<EventsTable>;

function parse(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

/** What differs from one new job to the next; `queuedJobRow` fills in the rest. */
export type NewJobFields = Pick<
  JobsTable,
  | 'id'
  | 'product'
  | 'title'
  | 'body'
  | 'source'
  | 'repo'
  | 'base_ref'
  | 'target_branch'
  | 'required_capabilities'
  | 'priority'
  | 'max_attempts'
  | 'spec'
  | 'idempotency_key'
> &
  Partial<Pick<JobsTable, 'parent_id' | 'position' | 'siblings' | 'after_positions' | 'submission_hash'>>;

/** A job's row as it is inserted: queued and claimable from `now`, never claimed, nothing produced yet. */
export function queuedJobRow(now: number, fields: NewJobFields): JobsTable {
  return {
    parent_id: null,
    position: null,
    siblings: null,
    after_positions: null,
    submission_hash: null,
    ...fields,
    run_after: now,
    attempts: 0,
    stage: 'queued',
    lease_epoch: 0,
    lease_factory: null,
    lease_expires_at: null,
    checkpoint: null,
    result: null,
    error: null,
    clarifications: '[]',
    created_at: now,
    updated_at: now,
  };
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    product: row.product,
    title: row.title,
    body: row.body,
    source: row.source,
    repo: row.repo,
    base: row.base_ref,
    target: row.target_branch,
    requiredCapabilities: JSON.parse(row.required_capabilities) as string[],
    priority: row.priority,
    runAfter: row.run_after,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    spec: JSON.parse(row.spec) as JobSpec,
    idempotencyKey: row.idempotency_key,
    stage: row.stage as Stage,
    leaseEpoch: row.lease_epoch,
    lease:
      row.lease_factory === null || row.lease_expires_at === null
        ? null
        : { factoryId: row.lease_factory, epoch: row.lease_epoch, expiresAt: row.lease_expires_at },
    checkpoint: parse(row.checkpoint) as Job['checkpoint'],
    result: parse(row.result) as Job['result'],
    error: parse(row.error) as Job['error'],
    clarifications: JSON.parse(row.clarifications) as Clarification[],
    parentId: row.parent_id,
    position: row.position,
    siblings: row.siblings,
    after: row.after_positions === null ? [] : (JSON.parse(row.after_positions) as number[]),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toEvent(row: EventRow): ConveyorEvent {
  return {
    seq: row.seq,
    at: row.at,
    product: row.product,
    jobId: row.job_id,
    epoch: row.epoch,
    type: row.type,
    actor: row.actor as Actor,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
  };
}

export function toRun(row: Selectable<RunsTable>): Run {
  return {
    jobId: row.job_id,
    epoch: row.epoch,
    factoryId: row.factory_id,
    startedAt: row.started_at,
    endedAt: row.ended_at === null ? null : row.ended_at,
    outcome: row.outcome as Run['outcome'],
  };
}

export function toFactory(row: Selectable<FactoriesTable>): Factory {
  return {
    id: row.id,
    product: row.product,
    capabilities: JSON.parse(row.capabilities) as string[],
    health: row.health as FactoryHealth,
    load: row.load,
    slots: row.slots,
    version: row.version,
    drain: row.drain === 1,
    lost: row.lost === 1,
    joinedAt: row.joined_at,
    lastHeartbeatAt: row.last_heartbeat_at,
  };
}

export function toToken(row: Selectable<TokensTable>): Token {
  return {
    id: row.id,
    role: row.role as TokenRole,
    product: row.product,
    factoryId: row.factory_id,
    grant: row.job_id === null || row.lease_epoch === null ? null : { jobId: row.job_id, leaseEpoch: row.lease_epoch },
    label: row.label,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function toQuarantined(row: Selectable<QuarantinedResultsTable>): QuarantinedResult {
  return {
    id: row.id,
    jobId: row.job_id,
    epoch: row.epoch,
    factoryId: row.factory_id,
    reason: row.reason,
    result: JSON.parse(row.result) as JobResult,
    createdAt: row.created_at,
    triage: row.triage === null ? null : row.triage === 'accepted' ? 'accept' : 'discard',
    triagedAt: row.triaged_at,
  };
}

export function json(value: unknown): string {
  return JSON.stringify(value);
}
