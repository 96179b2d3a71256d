/** Kysely table types: the rows exactly as both backends store them (JSON as text, booleans as 0/1, times in ms). */
import type { Generated } from 'kysely';

export interface JobsTable {
  id: string;
  product: string;
  title: string;
  body: string;
  source: string;
  repo: string | null;
  base_ref: string | null;
  target_branch: string | null;
  /** JSON array of strings. */
  required_capabilities: string;
  priority: number;
  run_after: number;
  attempts: number;
  max_attempts: number;
  /** JSON `JobSpec`. */
  spec: string;
  idempotency_key: string | null;
  /** SHA-256 of the canonical submission, kept with an idempotency key to tell a replay from a conflict. */
  submission_hash: string | null;
  stage: string;
  lease_epoch: number;
  lease_factory: string | null;
  lease_expires_at: number | null;
  /** JSON or null. */
  checkpoint: string | null;
  result: string | null;
  error: string | null;
  /** JSON array of `Clarification`. */
  clarifications: string;
  /** The job this one is a subtask of; null for every other job. */
  parent_id: string | null;
  /** k of `k/n` (1-based) for a subtask, else null. */
  position: number | null;
  /** n of `k/n` for a subtask, else null. */
  siblings: number | null;
  /** JSON array of the sibling positions that must ship before this subtask is claimable; null for none. */
  after_positions: string | null;
  created_at: number;
  updated_at: number;
}

export interface RunsTable {
  job_id: string;
  epoch: number;
  factory_id: string;
  started_at: number;
  ended_at: number | null;
  outcome: string | null;
}

export interface EventsTable {
  seq: Generated<number>;
  at: number;
  product: string;
  job_id: string | null;
  epoch: number | null;
  type: string;
  actor: string;
  /** JSON object. */
  payload: string;
  /** 1 on the one event that ends a run (job id, epoch): unique by schema. */
  ends_run: number | null;
  /** 1 on the one event that puts a job in a terminal stage at an epoch: unique by schema. */
  ends_job: number | null;
}

export interface FactoriesTable {
  id: string;
  product: string;
  capabilities: string;
  health: string;
  load: number;
  slots: number | null;
  version: string | null;
  drain: number;
  lost: number;
  joined_at: number;
  last_heartbeat_at: number;
}

export interface TokensTable {
  id: string;
  hash: string;
  role: string;
  product: string | null;
  label: string | null;
  created_at: number;
  factory_id: string | null;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  job_id: string | null;
  lease_epoch: number | null;
}

export interface QuarantinedResultsTable {
  id: string;
  product: string;
  job_id: string;
  epoch: number;
  factory_id: string;
  reason: string;
  /** JSON `JobResult`. */
  result: string;
  created_at: number;
  triage: string | null;
  triaged_at: number | null;
}

export interface ForgeDeliveriesTable {
  /** The `[forges.NAME]` it came to. */
  forge: string;
  /** `X-GitHub-Delivery` / `X-Gitea-Delivery`. */
  delivery_id: string;
  received_at: number;
  /** JSON `ForgeDeliveryOutcome`. */
  outcome: string;
}

export interface ForgeReportCursorsTable {
  forge: string;
  /** The `seq` of the last event the report-back has handled. */
  cursor: number;
  /** The coordinator running the report-back, until `held_until`. */
  holder: string;
  held_until: number;
}

export interface ForgeReportJobsTable {
  job_id: string;
  forge: string;
  /** The status comment's id on the forge, once made. */
  comment_id: string | null;
  /** SHA-256 of the status comment's text as last written. */
  body_hash: string | null;
  /** The stage label the issue was last given. */
  label: string | null;
  /** The `seq` of the blocking event whose question was last posted; 0 for none. */
  question_seq: number;
}

export interface ForgePollCursorsTable {
  forge: string;
  /** `owner/repo`. */
  repo: string;
  /** `issues` or `comments`. */
  list: string;
  /** The latest `updated_at` (milliseconds) of what the poll has handled; null before any. */
  since: number | null;
  /** The ETag of the list's last answer (GitHub), sent as `If-None-Match`. */
  etag: string | null;
}

export interface Database {
  jobs: JobsTable;
  runs: RunsTable;
  events: EventsTable;
  factories: FactoriesTable;
  tokens: TokensTable;
  quarantined_results: QuarantinedResultsTable;
  forge_deliveries: ForgeDeliveriesTable;
  forge_report_cursors: ForgeReportCursorsTable;
  forge_report_jobs: ForgeReportJobsTable;
  forge_poll_cursors: ForgePollCursorsTable;
}
