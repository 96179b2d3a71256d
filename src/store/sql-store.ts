/**
 * The one implementation of `Store`, over Kysely, for both backends: a thin class that owns the
 * signals and the backend's life, and delegates every query to a module over `StoreContext`:
 *
 * - `job-queries.ts`: submit and reads (jobs, runs, the event stream)
 * - `lease-queries.ts`: claim and the lease holder's fenced writes (reports, renew, release, events, decompose)
 * - `human-actions.ts`: cancel, retry, unblock, approve, reject
 * - `reaper-queries.ts`: expired leases, lost and expired factories
 * - `factory-registry.ts`, `token-queries.ts`, `quarantine-queries.ts`: factories, tokens, quarantined results
 * - `forge-deliveries.ts`: forge webhook deliveries by id, and the poll's cursors; `forge-reports.ts`: forges' report-back
 * - `retention-queries.ts`: finished jobs and old events removed in bounded batches (`conveyor gc`)
 *
 * Every stage change goes through `transition.ts`. Each public method that changes state runs in one
 * write transaction that also appends the events describing it; signals go out only after the commit.
 */
import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { ReportedEvent } from '../core/events.js';
import type { ConveyorEvent, Factory, Job, QuarantinedResult, Run, Token, TriageAction } from '../core/job.js';
import type { Stage } from '../core/stages.js';
import type { Backend, DatabaseSize } from './backend.js';
import * as factories from './factory-registry.js';
import * as deliveries from './forge-deliveries.js';
import * as forgeReports from './forge-reports.js';
import * as human from './human-actions.js';
import * as jobs from './job-queries.js';
import * as leases from './lease-queries.js';
import * as quarantined from './quarantine-queries.js';
import * as reaper from './reaper-queries.js';
import * as retention from './retention-queries.js';
import type { Database } from './schema.js';
import type { StoreContext } from './store-context.js';
import * as tokens from './token-queries.js';
import { jobMover } from './transition.js';
import type {
  Claim,
  ClaimRequest,
  ApprovalRequest,
  DecomposeRequest,
  Decomposition,
  EventCursorQuery,
  EventPage,
  ExpiredLease,
  ForgeDelivery,
  ForgeDeliveryOutcome,
  ForgePollCursor,
  ForgeReportJob,
  GarbageCount,
  GarbageRequest,
  HeartbeatInput,
  JobFilter,
  LeaseFence,
  NewJob,
  NewToken,
  QuarantineRequest,
  Rejection,
  RetryPolicy,
  StageReport,
  Store,
  StoreSignal,
} from './store.js';

export class SqlStore implements Store {
  readonly kind: Backend['kind'];
  private readonly db: Kysely<Database>;
  private readonly signals = new EventEmitter();
  private readonly ctx: StoreContext;

  constructor(
    private readonly backend: Backend,
    clock: Clock,
  ) {
    this.kind = backend.kind;
    this.db = backend.db;
    this.signals.setMaxListeners(0);
    this.ctx = {
      backend,
      db: backend.db,
      clock,
      mover: jobMover(backend),
      emit: (...signals) => {
        this.emit(...signals);
      },
    };
  }

  async migrate(): Promise<void> {
    const { migrateToLatest } = await import('./migrations.js');
    await migrateToLatest(this.db, this.kind);
    await this.backend.listen((signal) => this.signals.emit('signal', signal));
  }

  close(): Promise<void> {
    this.signals.removeAllListeners();
    return this.backend.close();
  }

  async ping(): Promise<void> {
    await this.db
      .selectFrom('conveyor_migrations' as 'jobs')
      .select((eb) => eb.lit(1).as('one'))
      .limit(1)
      .execute();
  }

  lead(): Promise<boolean> {
    return this.backend.lead();
  }

  collectGarbage(request: GarbageRequest): Promise<GarbageCount> {
    return retention.collectGarbage(this.ctx, request);
  }

  databaseSize(): Promise<DatabaseSize> {
    return this.backend.databaseSize();
  }

  onSignal(listener: (signal: StoreSignal) => void): () => void {
    this.signals.on('signal', listener);
    return () => this.signals.off('signal', listener);
  }

  private emit(...signals: StoreSignal[]): void {
    for (const signal of signals) {
      this.signals.emit('signal', signal);
      this.backend.notify(signal);
    }
  }

  // ---- jobs and the event stream (job-queries.ts) -----------------------------------------------

  submit(input: NewJob): Promise<{ job: Job; created: boolean }> {
    return jobs.submit(this.ctx, input);
  }

  getJob(product: string, id: string): Promise<Job | undefined> {
    return jobs.getJob(this.ctx, product, id);
  }

  listJobs(filter: JobFilter): Promise<Job[]> {
    return jobs.listJobs(this.ctx, filter);
  }

  listChildren(product: string, parentId: string): Promise<Job[]> {
    return jobs.listChildren(this.ctx, product, parentId);
  }

  countByStage(): Promise<{ product: string; stage: Stage; count: number }[]> {
    return jobs.countByStage(this.ctx);
  }

  claimableByCapabilities(product: string): Promise<{ capabilities: string[]; jobs: number }[]> {
    return jobs.claimableByCapabilities(this.ctx, product);
  }

  jobRuns(product: string, jobId: string): Promise<Run[]> {
    return jobs.jobRuns(this.ctx, product, jobId);
  }

  jobEvents(product: string, jobId: string, page?: EventPage): Promise<ConveyorEvent[]> {
    return jobs.jobEvents(this.ctx, product, jobId, page);
  }

  readEvents(query: EventCursorQuery): Promise<ConveyorEvent[]> {
    return jobs.readEvents(this.ctx, query);
  }

  // ---- a lease and its holder's fenced writes (lease-queries.ts) --------------------------------

  async claim(request: ClaimRequest): Promise<Claim | undefined> {
    return (await leases.claimJobs(this.ctx, request, 1))[0];
  }

  claimJobs(request: ClaimRequest, maxJobs: number): Promise<Claim[]> {
    return leases.claimJobs(this.ctx, request, maxJobs);
  }

  report(report: StageReport, policy: RetryPolicy): Promise<Job> {
    return leases.reportStage(this.ctx, report, policy);
  }

  renew(fence: LeaseFence, leaseTtlMs: number): Promise<number> {
    return leases.renew(this.ctx, fence, leaseTtlMs);
  }

  release(fence: LeaseFence): Promise<Job> {
    return leases.release(this.ctx, fence);
  }

  recordEvents(fence: LeaseFence, events: readonly ReportedEvent[]): Promise<void> {
    return leases.recordEvents(this.ctx, fence, events);
  }

  decompose(request: DecomposeRequest): Promise<Decomposition> {
    return leases.decompose(this.ctx, request);
  }

  requestApproval(request: ApprovalRequest): Promise<Job> {
    return leases.requestApproval(this.ctx, request);
  }

  // ---- human actions (human-actions.ts) ---------------------------------------------------------

  cancel(product: string, jobId: string, reason: string | undefined): Promise<Job> {
    return human.cancel(this.ctx, product, jobId, reason);
  }

  retry(product: string, jobId: string): Promise<Job> {
    return human.retry(this.ctx, product, jobId);
  }

  unblock(product: string, jobId: string, answer: string): Promise<Job> {
    return human.unblock(this.ctx, product, jobId, answer);
  }

  approve(product: string, jobId: string): Promise<Job> {
    return human.approve(this.ctx, product, jobId);
  }

  reject(product: string, jobId: string, rejection: Rejection): Promise<Job> {
    return human.reject(this.ctx, product, jobId, rejection);
  }

  // ---- the reaper (reaper-queries.ts) -----------------------------------------------------------

  expireLeases(policy: RetryPolicy): Promise<ExpiredLease[]> {
    return reaper.expireLeases(this.ctx, policy);
  }

  markLostFactories(silentForMs: number): Promise<Factory[]> {
    return reaper.markLostFactories(this.ctx, silentForMs);
  }

  expireFactories(silentForMs: number): Promise<Factory[]> {
    return reaper.expireFactories(this.ctx, silentForMs);
  }

  // ---- factories, tokens, quarantine (factory-registry.ts, token-queries.ts, quarantine-queries.ts)

  heartbeat(input: HeartbeatInput): Promise<{ factory: Factory; joined: boolean }> {
    return factories.heartbeat(this.ctx, input);
  }

  listFactories(product: string): Promise<Factory[]> {
    return factories.listFactories(this.ctx, product);
  }

  setDrain(product: string, factoryId: string, drain: boolean): Promise<Factory> {
    return factories.setDrain(this.ctx, product, factoryId, drain);
  }

  createToken(input: NewToken): Promise<Token> {
    return tokens.createToken(this.ctx, input);
  }

  hasTokens(): Promise<boolean> {
    return tokens.hasTokens(this.ctx);
  }

  findToken(hash: string): Promise<Token | undefined> {
    return tokens.findToken(this.ctx, hash);
  }

  listTokens(filter: { product?: string | undefined } = {}): Promise<Token[]> {
    return tokens.listTokens(this.ctx, filter);
  }

  revokeToken(id: string, product?: string): Promise<Token> {
    return tokens.revokeToken(this.ctx, id, product);
  }

  touchToken(id: string, at: number): Promise<void> {
    return tokens.touchToken(this.ctx, id, at);
  }

  findForgeDelivery(forge: string, deliveryId: string): Promise<ForgeDeliveryOutcome | undefined> {
    return deliveries.findForgeDelivery(this.ctx, forge, deliveryId);
  }

  recordForgeDelivery(delivery: ForgeDelivery): Promise<boolean> {
    return deliveries.recordForgeDelivery(this.ctx, delivery);
  }

  forgePollCursor(forge: string, repo: string, list: ForgePollCursor['list']): Promise<ForgePollCursor | undefined> {
    return deliveries.forgePollCursor(this.ctx, forge, repo, list);
  }

  saveForgePollCursor(cursor: ForgePollCursor): Promise<void> {
    return deliveries.saveForgePollCursor(this.ctx, cursor);
  }

  holdForgeReport(forge: string, holder: string, now: number, heldUntil: number): Promise<number | undefined> {
    return forgeReports.holdForgeReport(this.ctx, forge, holder, now, heldUntil);
  }

  advanceForgeReport(forge: string, holder: string, cursor: number): Promise<boolean> {
    return forgeReports.advanceForgeReport(this.ctx, forge, holder, cursor);
  }

  forgeReportJob(jobId: string): Promise<ForgeReportJob | undefined> {
    return forgeReports.forgeReportJob(this.ctx, jobId);
  }

  saveForgeReportJob(report: ForgeReportJob): Promise<void> {
    return forgeReports.saveForgeReportJob(this.ctx, report);
  }

  findJobByKey(product: string, key: string): Promise<Job | undefined> {
    return jobs.findJobByKey(this.ctx, product, key);
  }

  quarantine(input: QuarantineRequest): Promise<QuarantinedResult> {
    return quarantined.quarantine(this.ctx, input);
  }

  listQuarantined(product: string, jobId: string): Promise<QuarantinedResult[]> {
    return quarantined.listQuarantined(this.ctx, product, jobId);
  }

  triage(product: string, jobId: string, quarantineId: string, action: TriageAction): Promise<QuarantinedResult> {
    return quarantined.triage(this.ctx, product, jobId, quarantineId, action);
  }
}
