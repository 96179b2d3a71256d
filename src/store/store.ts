/**
 * The `Store` interface: everything the coordinator persists. Two implementations (SQLite, PostgreSQL)
 * share one query layer (`sql-store.ts` and its query modules). Every state change and the events
 * describing it are one transaction; every factory write is fenced by the lease epoch.
 */
import type {
  Checkpoint,
  ConveyorEvent,
  Factory,
  FactoryHealth,
  Job,
  JobError,
  JobResult,
  QuarantinedResult,
  TriageAction,
  AgentGrant,
  TokenRole,
  Run,
  Token,
} from '../core/job.js';
import type { ReportedEvent } from '../core/events.js';
import type { Subtask } from '../core/decomposition.js';
import type { Stage } from '../core/stages.js';
import type { DatabaseSize } from './backend.js';

/** A job about to be inserted: the normalised submission. */
export type NewJob = Pick<
  Job,
  | 'product'
  | 'title'
  | 'body'
  | 'source'
  | 'repo'
  | 'base'
  | 'target'
  | 'requiredCapabilities'
  | 'priority'
  | 'maxAttempts'
  | 'spec'
  | 'idempotencyKey'
>;

/** What a forge's webhook delivery came to: the job it made (or found), or why it was ignored. */
export type ForgeDeliveryOutcome = { jobId: string } | { ignored: string };

/** What the report-back of a forge keeps about one job (`coordinator/forge-report.ts`). */
export interface ForgeReportJob {
  jobId: string;
  forge: string;
  /** The status comment's id, once made. */
  commentId: number | null;
  /** SHA-256 of the status comment as last written. */
  bodyHash: string | null;
  /** The stage label the issue was last given. */
  label: string | null;
  /** The `seq` of the blocking event whose question was last posted; 0 for none. */
  questionSeq: number;
}

/** How far the poll of one list of a forge's repository has read (`coordinator/forge-poll.ts`). */
export interface ForgePollCursor {
  forge: string;
  repo: string;
  list: 'issues' | 'comments';
  /** The latest change (milliseconds, the forge's clock) handled; undefined before any. */
  since: number | undefined;
  etag: string | undefined;
}

export interface ForgeDelivery {
  forge: string;
  deliveryId: string;
  receivedAt: number;
  outcome: ForgeDeliveryOutcome;
}

export interface Claim {
  job: Job;
  leaseEpoch: number;
  leaseExpiresAt: number;
}

export interface ClaimRequest {
  product: string;
  factoryId: string;
  capabilities: string[];
  leaseTtlMs: number;
}

/**
 * Who writes under a lease. A fenced write is accepted only when `leaseEpoch` is the job's current
 * epoch and `factoryId` is the factory holding its lease, both checked with the write.
 */
export interface LeaseFence {
  product: string;
  jobId: string;
  leaseEpoch: number;
  /** The writing factory: it must be the lease's holder. */
  factoryId: string;
}

export interface StageReport extends LeaseFence {
  stage: Stage;
  checkpoint?: Checkpoint | undefined;
  result?: JobResult | undefined;
  error?: JobError | undefined;
}

/** A token about to be stored: its hash, never its secret. */
export interface NewToken {
  hash: string;
  role: TokenRole;
  product: string | null;
  label: string | null;
  /** Binds a factory token to one factory id. @default null (any factory) */
  factoryId?: string | null | undefined;
  /** When it stops working. @default null (never) */
  expiresAt?: number | null | undefined;
  /** An agent credential's job and lease (role `agent`). @default null */
  grant?: AgentGrant | null | undefined;
}

/** A result a factory produced under lease `epoch`, which it lost before it could report it. */
export interface QuarantineRequest {
  product: string;
  jobId: string;
  epoch: number;
  /** The factory that ran under `epoch`. */
  factoryId: string;
  reason: string;
  result: JobResult;
}

export interface JobFilter {
  product: string;
  stages?: Stage[] | undefined;
  text?: string | undefined;
  /** Only the subtasks of this job. */
  parentId?: string | undefined;
  /** Return jobs with an id below this one (ids sort by creation time). */
  before?: string | undefined;
  limit: number;
}

/** A lease holder splitting its job into subtasks. */
export interface DecomposeRequest extends LeaseFence {
  /** Validated by `SubtaskListSchema` (1-50, `after` naming earlier positions only). */
  subtasks: readonly Subtask[];
}

/** A lease holder whose job passed verify asking a person to approve it (`approval: required`). */
export interface ApprovalRequest extends LeaseFence {
  /** The verified work: its `wipCommit` is the commit a person approves or rejects. */
  checkpoint: Checkpoint;
  result?: JobResult | undefined;
}

/** What a person does with work waiting for approval: `retry` sends it back to the agent, `fail` ends it. */
export type Rejection = { reason: string; action: 'retry' | 'fail' };

export interface Decomposition {
  parent: Job;
  /** In position order. */
  children: Job[];
  /** False when the same run asked again (a retried request): the children it made the first time. */
  created: boolean;
}

export interface HeartbeatInput {
  product: string;
  factoryId: string;
  capabilities: string[];
  health: FactoryHealth;
  load: number;
  slots?: number | undefined;
  version?: string | undefined;
}

export interface RetryPolicy {
  /** Delay before a failed or expired job is claimable again, given its attempt count. */
  backoffMs(attempts: number): number;
}

export interface ExpiredLease {
  jobId: string;
  product: string;
  epoch: number;
  factoryId: string | null;
  /** The stage the lease expired in. */
  stage: Stage;
  /** Where the job went: back to the queue, or dead-lettered after its last attempt. */
  outcome: 'queued' | 'dead_letter';
}

/**
 * What changed, for waiters in this process and (PostgreSQL) in other coordinators. `tokens`: a token
 * was revoked, so cached tokens must be looked up again.
 */
export type StoreSignal =
  | {
      kind: 'jobs';
      product: string;
      /** A job just submitted, claimable at once by a factory with these capabilities (none: look and see). */
      submitted?: { capabilities: readonly string[] };
    }
  | { kind: 'events' }
  | { kind: 'tokens' };

/** What `collectGarbage` removes (`conveyor gc`, `[retention]`); times in ms since the epoch. */
export interface GarbageRequest {
  /** Finished jobs unchanged since before this go, with every row that depends on them. @default none go */
  jobsBefore?: number | undefined;
  /** Events from before this, of a finished job or of none, go. @default none go */
  eventsBefore?: number | undefined;
  /** Rows per write transaction. @default 1 000 */
  batchRows?: number | undefined;
  /** Count what would go; remove nothing. @default false */
  dryRun?: boolean | undefined;
  /** Called after each batch with the totals so far. */
  onProgress?: ((removed: GarbageCount) => void) | undefined;
}

/** Rows removed (or, for a dry run, that would be). */
export interface GarbageCount {
  jobs: number;
  runs: number;
  events: number;
  quarantined: number;
  /** Agent credentials of the removed jobs. */
  credentials: number;
  /** Write transactions made. */
  batches: number;
}

export interface EventPage {
  /** Only events with a larger `seq`. @default 0 */
  after?: number | undefined;
  /** At most this many. @default all */
  limit?: number | undefined;
  /** Only the newest this many (of those before `before`), still in `seq` order. */
  last?: number | undefined;
  /** With `last`: only events with a smaller `seq`. */
  before?: number | undefined;
}

export interface EventCursorQuery {
  /** The last `seq` the reader has seen; 0 for the beginning. */
  after: number;
  /** Only this product's events; undefined for every product. */
  product?: string | undefined;
  limit: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Answers when the database can serve queries. */
  ping(): Promise<void>;
  /**
   * Whether this process leads the coordinators sharing the database: the leader alone runs the reaper
   * and retention. Takes the lead when it is free; ask again every interval (see `Maintenance.lead`).
   */
  lead(): Promise<boolean>;
  /**
   * Removes finished jobs and old events in bounded batches (see `GarbageRequest`); never a job that
   * is not finished, nor its events.
   */
  collectGarbage(request: GarbageRequest): Promise<GarbageCount>;
  /** The database's size on disk (what `conveyor gc` prints before and after). */
  databaseSize(): Promise<DatabaseSize>;

  submit(job: NewJob): Promise<{ job: Job; created: boolean }>;
  getJob(product: string, id: string): Promise<Job | undefined>;
  listJobs(filter: JobFilter): Promise<Job[]>;
  countByStage(): Promise<{ product: string; stage: Stage; count: number }[]>;
  /** Queued jobs a claim could take now (due, not waiting on a sibling), per required capability set. */
  claimableByCapabilities(product: string): Promise<{ capabilities: string[]; jobs: number }[]>;

  claim(request: ClaimRequest): Promise<Claim | undefined>;
  /**
   * Up to `maxJobs` jobs for one factory in one transaction (one statement on PostgreSQL), each with its
   * own lease, epoch and run, in claim order (priority, then age); none when nothing is claimable.
   */
  claimJobs(request: ClaimRequest, maxJobs: number): Promise<Claim[]>;
  report(report: StageReport, policy: RetryPolicy): Promise<Job>;
  renew(fence: LeaseFence, leaseTtlMs: number): Promise<number>;
  release(fence: LeaseFence): Promise<Job>;
  /** Appends what the lease holder observed (`llm.call`, `tool.call`, …); fenced like a report. */
  recordEvents(fence: LeaseFence, events: readonly ReportedEvent[]): Promise<void>;

  /**
   * Splits the job into child jobs, fenced like a report, in one transaction: the children (queued, or
   * waiting for earlier siblings), `job.decomposed` on the parent and `job.created` per child; the
   * parent's run ends and it waits in `building` without a lease until its children settle it: shipped
   * with the last child, or blocked by a child that stopped for good.
   */
  decompose(request: DecomposeRequest): Promise<Decomposition>;
  /**
   * Fenced like a report: a job with `approval: required` in `testing` moves to `review` with the
   * checkpoint marked `awaiting` and `job.approval_requested`; its run ends and it waits there without a
   * lease. 422 for a job that does not require approval.
   */
  requestApproval(request: ApprovalRequest): Promise<Job>;
  /** The subtasks of a job in position order (empty for a job that was not decomposed). */
  listChildren(product: string, parentId: string): Promise<Job[]>;

  /** A parent's unfinished children are cancelled with it. */
  cancel(product: string, jobId: string, reason: string | undefined): Promise<Job>;
  /**
   * A new life for a stopped job. For a parent (blocked by a child, or cancelled) the parent is not run
   * again: its children that did not ship are requeued and it waits for them again in `building`.
   * Retrying a child whose parent it blocked puts the parent back to waiting too.
   */
  retry(product: string, jobId: string): Promise<Job>;
  /** Answers a blocked job's question; for a parent, like `retry` with the answer kept. */
  unblock(product: string, jobId: string, answer: string): Promise<Job>;
  /**
   * Approves the work a job waits with: requeued, its checkpoint marked `approved` (the commit) with the
   * agent and verify finished, so the next run ships that commit only. `NotAwaitingApprovalError` (409)
   * for a job that is not waiting.
   */
  approve(product: string, jobId: string): Promise<Job>;
  /**
   * Rejects the work a job waits with: `retry` requeues it to run again from that work, the reason kept
   * as a clarification the agent is shown; `fail` fails it for good with the reason. 409 as `approve`.
   */
  reject(product: string, jobId: string, rejection: Rejection): Promise<Job>;

  /** Requeues (or dead-letters) every job whose lease expired before now; each one a fenced CAS. */
  expireLeases(policy: RetryPolicy): Promise<ExpiredLease[]>;

  heartbeat(input: HeartbeatInput): Promise<{ factory: Factory; joined: boolean }>;
  /** Marks factories silent for `silentForMs` lost (not those whose last heartbeat said `stopped`). */
  markLostFactories(silentForMs: number): Promise<Factory[]>;
  /** Removes factories silent for `silentForMs` (stopped or lost long ago) from the fleet; answers them. */
  expireFactories(silentForMs: number): Promise<Factory[]>;
  listFactories(product: string): Promise<Factory[]>;
  setDrain(product: string, factoryId: string, drain: boolean): Promise<Factory>;

  jobRuns(product: string, jobId: string): Promise<Run[]>;
  /** A job's events in `seq` order: every one, or `limit` after the `seq` `after`. */
  jobEvents(product: string, jobId: string, page?: EventPage): Promise<ConveyorEvent[]>;
  /**
   * Events after a cursor, in an order that never lets a later read find an event that sorts before
   * one already returned (gap-free resumption for the SSE stream).
   */
  readEvents(query: EventCursorQuery): Promise<ConveyorEvent[]>;

  createToken(input: NewToken): Promise<Token>;
  /** The token with this hash, whatever its status (revoked and expired ones too). */
  findToken(hash: string): Promise<Token | undefined>;
  /** Whether any token exists (a fresh store gets a generated admin token on first start). */
  hasTokens(): Promise<boolean>;
  /** Tokens, oldest first: every one, or (with `product`) those bound to that product. */
  listTokens(filter?: { product?: string | undefined }): Promise<Token[]>;
  /**
   * Revokes a token for good (a second revoke keeps the first time) and signals `tokens`, so caches
   * of it are dropped here and in other coordinators. `NotFoundError` when there is no such token
   * (bound to `product`, when given).
   */
  revokeToken(id: string, product?: string): Promise<Token>;
  /** Records that the token authenticated a request at `at`. */
  touchToken(id: string, at: number): Promise<void>;

  /**
   * Attaches a result produced under lease `epoch` (no longer current) to the job for human triage,
   * with a `job.quarantined` event; the job's stage does not change. Only the factory that ran under
   * that epoch may (`FencedError` otherwise).
   */
  quarantine(input: QuarantineRequest): Promise<QuarantinedResult>;
  listQuarantined(product: string, jobId: string): Promise<QuarantinedResult[]>;
  /** Records a human's decision on a quarantined result (once). */
  triage(product: string, jobId: string, quarantineId: string, action: TriageAction): Promise<QuarantinedResult>;

  /** What an earlier delivery of a forge's webhook with this id came to, if one was recorded. */
  findForgeDelivery(forge: string, deliveryId: string): Promise<ForgeDeliveryOutcome | undefined>;
  /**
   * Records what a delivery came to; a delivery recorded before keeps its first outcome (returned
   * false).
   */
  recordForgeDelivery(delivery: ForgeDelivery): Promise<boolean>;
  /** The poll's cursor of a forge's repository's list, if it has one. */
  forgePollCursor(forge: string, repo: string, list: ForgePollCursor['list']): Promise<ForgePollCursor | undefined>;
  saveForgePollCursor(cursor: ForgePollCursor): Promise<void>;
  /**
   * Takes (or keeps) the report-back of `forge` for `holder` until `heldUntil`, when no other holder's
   * time is running; answers its event cursor, or undefined when another coordinator holds it.
   */
  holdForgeReport(forge: string, holder: string, now: number, heldUntil: number): Promise<number | undefined>;
  /** Moves the cursor of `forge` to `cursor` if `holder` still holds it; false otherwise. */
  advanceForgeReport(forge: string, holder: string, cursor: number): Promise<boolean>;
  forgeReportJob(jobId: string): Promise<ForgeReportJob | undefined>;
  saveForgeReportJob(report: ForgeReportJob): Promise<void>;
  /** The job of `product` submitted with this idempotency key (a forge's issue), if any. */
  findJobByKey(product: string, key: string): Promise<Job | undefined>;

  /** Subscribes to signals emitted after commits (here and, on PostgreSQL, in other coordinators). */
  onSignal(listener: (signal: StoreSignal) => void): () => void;
}
