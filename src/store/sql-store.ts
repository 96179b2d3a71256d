/**
 * The shared query layer: one implementation of `Store` over Kysely, for both backends. Each public
 * method that changes state runs in one write transaction that also appends the events describing it;
 * signals go out only after the commit.
 */
import { EventEmitter } from 'node:events';
import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Clock } from '../core/clock.js';
import { FencedError, IllegalTransitionError, NotFoundError } from '../core/errors.js';
import type {
  Clarification,
  ConveyorEvent,
  Factory,
  FactoryEvent,
  Job,
  JobError,
  JobResult,
  QuarantinedResult,
  Role,
  Run,
  Token,
  TriageAction,
} from '../core/job.js';
import {
  ACTIVE_STAGES,
  FACTORY_REPORTABLE_STAGES,
  type Actor,
  allowedSources,
  allowedTargets,
  canTransition,
  isActive,
  isTerminal,
  type Stage,
} from '../core/stages.js';
import type { Backend } from './backend.js';
import * as factories from './factory-registry.js';
import * as family from './family-queries.js';
import * as quarantined from './quarantine-queries.js';
import { appendEvents, type NewEvent, newId, requireJob, type StoreContext, type Trx } from './store-context.js';
import * as tokens from './token-queries.js';
import { type JobRow, json, queuedJobRow, toEvent, toJob, toRun } from './rows.js';
import type { Database } from './schema.js';
import type { JobMover, JobPatch, Transition } from './transition.js';
import type {
  Claim,
  ClaimRequest,
  DecomposeRequest,
  Decomposition,
  EventCursorQuery,
  ExpiredLease,
  HeartbeatInput,
  JobFilter,
  NewJob,
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
  /** What the parent and subtask queries (`family-queries.ts`) may do to other jobs in a transaction. */
  private readonly mover: JobMover = {
    lock: (trx, product, jobId) => this.lockJob(trx, product, jobId),
    apply: (trx, now, row, transition) => this.applyTransition(trx, now, row, transition),
  };

  constructor(
    private readonly backend: Backend,
    private readonly clock: Clock,
  ) {
    this.kind = backend.kind;
    this.db = backend.db;
    this.signals.setMaxListeners(0);
    this.ctx = {
      backend,
      db: backend.db,
      clock,
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

  // ---- jobs -------------------------------------------------------------------------------------

  async submit(input: NewJob): Promise<{ job: Job; created: boolean }> {
    const now = this.clock.now();
    const result = await this.backend.writeTransaction(async (trx) => {
      if (input.idempotencyKey !== null) {
        const existing = await this.findByIdempotencyKey(trx, input.product, input.idempotencyKey);
        if (existing !== undefined) return { job: toJob(existing), created: false };
      }
      const row = await trx
        .insertInto('jobs')
        .values(
          queuedJobRow(now, {
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
          }),
        )
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .executeTakeFirst();
      if (row === undefined) {
        // A concurrent submit with the same idempotency key won the insert.
        const existing = await this.findByIdempotencyKey(trx, input.product, input.idempotencyKey ?? '');
        if (existing === undefined) throw new Error('job insert conflicted but no job with that key exists');
        return { job: toJob(existing), created: false };
      }
      await appendEvents(trx, now, [
        {
          product: row.product,
          jobId: row.id,
          epoch: 0,
          type: 'job.created',
          actor: 'human',
          payload: { title: row.title, source: row.source, to: 'queued' },
        },
      ]);
      return { job: toJob(row), created: true };
    });
    if (result.created) this.emit({ kind: 'jobs', product: input.product }, { kind: 'events' });
    return result;
  }

  private findByIdempotencyKey(trx: Trx, product: string, key: string): Promise<JobRow | undefined> {
    return trx
      .selectFrom('jobs')
      .selectAll()
      .where('product', '=', product)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  async getJob(product: string, id: string): Promise<Job | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', id)
      .where('product', '=', product)
      .executeTakeFirst();
    return row === undefined ? undefined : toJob(row);
  }

  async listJobs(filter: JobFilter): Promise<Job[]> {
    let query = this.db.selectFrom('jobs').selectAll().where('product', '=', filter.product);
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

  async countByStage(): Promise<{ product: string; stage: Stage; count: number }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['product', 'stage', (eb) => eb.fn.countAll<number | string>().as('count')])
      .groupBy(['product', 'stage'])
      .execute();
    return rows.map((r) => ({ product: r.product, stage: r.stage as Stage, count: Number(r.count) }));
  }

  // ---- fleet ------------------------------------------------------------------------------------

  async claim(request: ClaimRequest): Promise<Claim | undefined> {
    const now = this.clock.now();
    const fast = this.backend.fastPaths;
    if (fast !== undefined) {
      const expiresAt = now + request.leaseTtlMs;
      const row = await fast.claim({ ...request, now, expiresAt });
      if (row === undefined) return undefined;
      this.emit({ kind: 'events' });
      return { job: toJob(row), leaseEpoch: row.lease_epoch, leaseExpiresAt: expiresAt };
    }
    const claim = await this.backend.writeTransaction(async (trx) => {
      let pick = trx
        .selectFrom('jobs')
        .selectAll()
        .where('product', '=', request.product)
        .where('stage', '=', 'queued')
        .where('run_after', '<=', now)
        .where(this.backend.capabilitiesMatch(request.capabilities))
        .where(this.backend.orderingSatisfied())
        .orderBy('priority', 'desc')
        .orderBy('id')
        .limit(1);
      if (this.backend.rowLocks) pick = pick.forUpdate().skipLocked();
      const candidate = await pick.executeTakeFirst();
      if (candidate === undefined) return undefined;
      const epoch = candidate.lease_epoch + 1;
      const expiresAt = now + request.leaseTtlMs;
      const row = await this.applyTransition(trx, now, candidate, {
        to: 'assigned',
        actor: 'coordinator',
        type: 'job.claimed',
        payload: { factoryId: request.factoryId, leaseExpiresAt: expiresAt },
        patch: { lease_epoch: epoch, lease_factory: request.factoryId, lease_expires_at: expiresAt },
      });
      await trx
        .insertInto('runs')
        .values({
          job_id: row.id,
          epoch,
          factory_id: request.factoryId,
          started_at: now,
          ended_at: null,
          outcome: null,
        })
        .execute();
      return { job: toJob(row), leaseEpoch: epoch, leaseExpiresAt: expiresAt };
    });
    if (claim !== undefined) this.emit({ kind: 'events' });
    return claim;
  }

  async report(report: StageReport, policy: RetryPolicy): Promise<Job> {
    const fast = this.backend.fastPaths;
    const reportable = FACTORY_REPORTABLE_STAGES.includes(report.stage);
    // A retryable failure's outcome depends on the attempts left; everything else on the stage guard alone.
    const finalFailure = report.stage === 'failed' && report.error?.retryable === false;
    if (fast !== undefined && reportable && (report.stage !== 'failed' || finalFailure)) {
      const to = report.stage;
      const allowedFrom = [...allowedSources(to, 'factory'), ...(isActive(to) ? [to] : [])].filter(isActive);
      const row = await fast.move({
        ...report,
        now: this.clock.now(),
        to,
        allowedFrom,
        endsRun: !isActive(to),
        endsJob: isTerminal(to),
        countAttempt: to === 'failed',
        payload: to === 'failed' ? { error: report.error ?? null } : {},
      });
      if (row !== undefined) {
        this.emit({ kind: 'events' });
        return toJob(row);
      }
      // The guard did not pass: the shared path below names the reason (or wins a race legitimately).
    }
    const { job, signals } = await this.fencedWrite(
      report.product,
      report.jobId,
      report.leaseEpoch,
      async (trx, row, now) => {
        const patch: JobPatch = {};
        if (report.checkpoint !== undefined) patch.checkpoint = json(report.checkpoint);
        if (report.result !== undefined) patch.result = json(report.result);
        if (report.error !== undefined) patch.error = json(report.error);
        const events: NewEvent[] = [];
        if (report.checkpoint !== undefined) {
          events.push(this.jobEvent(row, 'checkpoint.saved', 'factory', { ...report.checkpoint, stage: row.stage }));
        }
        if (!reportable) {
          // A factory never reports these (not even as its current stage, which would be a checkpoint).
          const from = row.stage as Stage;
          throw new IllegalTransitionError(row.id, from, report.stage, allowedTargets(from, 'factory'));
        }
        if (report.stage === row.stage) {
          await appendEvents(trx, now, events);
          return this.updateJob(trx, now, row, patch);
        }
        this.assertTransition(row, report.stage, 'factory');
        await appendEvents(trx, now, events);
        if (report.stage !== 'failed') {
          const next = await this.applyTransition(trx, now, row, {
            to: report.stage,
            actor: 'factory',
            type: 'stage.changed',
            patch,
            runOutcome: report.stage,
          });
          return next;
        }
        const retryable = report.error?.retryable !== false;
        const failed = await this.applyTransition(trx, now, row, {
          to: 'failed',
          actor: 'factory',
          type: 'stage.changed',
          payload: { error: report.error ?? null },
          patch: { ...patch, attempts: row.attempts + 1 },
          runOutcome: 'failed',
          // A retryable failure is not the end of the job: the coordinator's policy decides next.
          endsJob: !retryable,
        });
        if (!retryable) return failed;
        return this.requeueOrDeadLetter(trx, now, failed, policy, {
          type: 'job.retry_scheduled',
          attempts: failed.attempts,
        });
      },
    );
    this.emit(...signals);
    return job;
  }

  async renew(product: string, jobId: string, leaseEpoch: number, leaseTtlMs: number): Promise<number> {
    const fast = this.backend.fastPaths;
    if (fast !== undefined) {
      const now = this.clock.now();
      const row = await fast.renew({
        product,
        jobId,
        leaseEpoch,
        now,
        expiresAt: now + leaseTtlMs,
        activeStages: ACTIVE_STAGES,
      });
      if (row !== undefined) {
        this.emit({ kind: 'events' });
        return now + leaseTtlMs;
      }
    }
    const { job } = await this.fencedWrite(product, jobId, leaseEpoch, async (trx, row, now) => {
      const next = await this.updateJob(trx, now, row, { lease_expires_at: now + leaseTtlMs });
      await appendEvents(trx, now, [
        this.jobEvent(row, 'lease.renewed', 'factory', { leaseExpiresAt: now + leaseTtlMs }),
      ]);
      return next;
    });
    return job.lease?.expiresAt ?? 0;
  }

  async release(product: string, jobId: string, leaseEpoch: number): Promise<Job> {
    const { job, signals } = await this.fencedWrite(product, jobId, leaseEpoch, (trx, row, now) =>
      this.applyTransition(trx, now, row, {
        to: 'queued',
        actor: 'coordinator',
        type: 'lease.released',
        runOutcome: 'released',
        patch: { run_after: now },
      }),
    );
    this.emit(...signals);
    return job;
  }

  async recordEvents(
    product: string,
    jobId: string,
    leaseEpoch: number,
    events: readonly FactoryEvent[],
  ): Promise<void> {
    const { signals } = await this.fencedWrite(product, jobId, leaseEpoch, async (trx, row, now) => {
      await appendEvents(
        trx,
        now,
        events.map((event) => this.jobEvent(row, event.type, 'factory', event.payload)),
      );
      return row;
    });
    this.emit(...signals);
  }

  async decompose(request: DecomposeRequest): Promise<Decomposition> {
    const now = this.clock.now();
    const { product, jobId, leaseEpoch } = request;
    try {
      const done = await this.backend.writeTransaction(async (trx) => {
        const parent = await this.lockJob(trx, product, jobId);
        const existing = await family.childRows(trx, product, jobId);
        // The same run asking again (its answer was lost): the children it made, not a second set.
        if (existing.length > 0 && parent.lease_epoch === leaseEpoch) {
          return { parent, children: existing, created: false };
        }
        const reason = fenceViolation(parent, leaseEpoch, now);
        if (reason !== undefined) throw new FencedError(jobId, leaseEpoch, parent.lease_epoch, reason);
        return { ...(await family.insertChildren(trx, now, this.mover, parent, request.subtasks)), created: true };
      });
      if (done.created) this.emit({ kind: 'events' }, { kind: 'jobs', product });
      return { parent: toJob(done.parent), children: done.children.map(toJob), created: done.created };
    } catch (error) {
      if (error instanceof FencedError) await this.recordFence(product, error);
      throw error;
    }
  }

  async listChildren(product: string, parentId: string): Promise<Job[]> {
    return (await family.childRows(this.db, product, parentId)).map(toJob);
  }

  /**
   * Runs `write` on the job row locked in a transaction, after checking that `leaseEpoch` holds the
   * job's lease now. A stale epoch throws `FencedError` and records a `fence.rejected` event.
   */
  private async fencedWrite(
    product: string,
    jobId: string,
    leaseEpoch: number,
    write: (trx: Trx, row: JobRow, now: number) => Promise<Job | JobRow>,
  ): Promise<{ job: Job; signals: StoreSignal[] }> {
    const now = this.clock.now();
    try {
      const row = await this.backend.writeTransaction(async (trx) => {
        const locked = await this.lockJob(trx, product, jobId);
        const reason = fenceViolation(locked, leaseEpoch, now);
        if (reason !== undefined) throw new FencedError(jobId, leaseEpoch, locked.lease_epoch, reason);
        return write(trx, locked, now);
      });
      const job = 'lease' in row ? row : toJob(row);
      const signals: StoreSignal[] = [{ kind: 'events' }];
      // A subtask that ships may let a sibling waiting for it be claimed.
      if (job.stage === 'queued' || job.parentId !== null) signals.push({ kind: 'jobs', product });
      return { job, signals };
    } catch (error) {
      if (error instanceof FencedError) await this.recordFence(product, error);
      throw error;
    }
  }

  private async recordFence(product: string, error: FencedError): Promise<void> {
    await this.backend.writeTransaction((trx) =>
      appendEvents(trx, this.clock.now(), [
        {
          product,
          jobId: error.jobId,
          epoch: error.sentEpoch,
          type: 'fence.rejected',
          actor: 'coordinator',
          payload: { sentEpoch: error.sentEpoch, currentEpoch: error.currentEpoch, reason: error.message },
        },
      ]),
    );
    this.emit({ kind: 'events' });
  }

  // ---- human actions ----------------------------------------------------------------------------

  async cancel(product: string, jobId: string, reason: string | undefined): Promise<Job> {
    return this.humanAction(
      product,
      jobId,
      () => ({
        to: 'cancelled',
        actor: 'human',
        type: 'job.cancelled',
        payload: { reason: reason ?? null },
        runOutcome: 'cancelled',
      }),
      async (trx, now, parent, children, plain) => {
        this.assertTransition(parent, plain.to, 'human');
        const next = await this.applyTransition(trx, now, parent, plain);
        await family.cancelChildren(trx, now, this.mover, parent, children, reason);
        return next;
      },
    );
  }

  async retry(product: string, jobId: string): Promise<Job> {
    return this.humanAction(
      product,
      jobId,
      (row, now) => ({
        to: 'queued',
        actor: 'human',
        type: 'job.retried',
        // A new life for the job: fresh attempts, and a new epoch so nothing from before can write.
        patch: { attempts: 0, run_after: now, error: null, lease_epoch: row.lease_epoch + 1 },
      }),
      (trx, now, parent, children, plain) => family.resumeParent(trx, now, this.mover, parent, children, plain),
    );
  }

  async unblock(product: string, jobId: string, answer: string): Promise<Job> {
    const clarify = (row: JobRow, now: number) => {
      const question = row.error === null ? '' : (JSON.parse(row.error) as JobError).message;
      const clarifications = [...(JSON.parse(row.clarifications) as Clarification[])];
      clarifications.push({ question, answer, answeredAt: now });
      return { question, clarifications: json(clarifications) };
    };
    return this.humanAction(
      product,
      jobId,
      (row, now) => {
        const { question, clarifications } = clarify(row, now);
        return {
          to: 'queued',
          actor: 'human',
          type: 'job.unblocked',
          payload: { question, answer },
          patch: { clarifications, error: null, run_after: now },
        };
      },
      (trx, now, parent, children, plain) => {
        const { question, clarifications } = clarify(parent, now);
        return family.resumeParent(trx, now, this.mover, parent, children, plain, {
          payload: { question, answer },
          clarifications,
        });
      },
    );
  }

  /**
   * A human's move of one job in one transaction. `plan` is the move of a job without children; a
   * parent's children are locked first (see `family-queries.ts` on lock order) and `forParent` decides.
   * Requeueing a subtask may put the parent it blocked back to waiting.
   */
  private async humanAction(
    product: string,
    jobId: string,
    plan: (row: JobRow, now: number) => Transition,
    forParent: (trx: Trx, now: number, parent: JobRow, children: JobRow[], plain: Transition) => Promise<JobRow>,
  ): Promise<Job> {
    const now = this.clock.now();
    const row = await this.backend.writeTransaction(async (trx) => {
      let children = await family.childRows(trx, product, jobId, this.backend);
      const locked = await this.lockJob(trx, product, jobId);
      // Children appear once, when the lease holder splits the job; that may have committed while we
      // waited for the job's lock (they are new: nothing else holds them long).
      if (children.length === 0 && isActive(locked.stage as Stage) && locked.lease_factory === null) {
        children = await family.childRows(trx, product, jobId, this.backend);
      }
      const transition = plan(locked, now);
      if (children.length > 0) return forParent(trx, now, locked, children, transition);
      this.assertTransition(locked, transition.to, 'human');
      const next = await this.applyTransition(trx, now, locked, transition);
      if (next.parent_id !== null && next.stage === 'queued') await family.childRequeued(trx, now, this.mover, next);
      return next;
    });
    // Queued jobs (or, for a parent, its children) may be claimable now.
    this.emit({ kind: 'events' }, { kind: 'jobs', product });
    return toJob(row);
  }

  // ---- reaper -----------------------------------------------------------------------------------

  async expireLeases(policy: RetryPolicy): Promise<ExpiredLease[]> {
    const now = this.clock.now();
    const candidates = await this.db
      .selectFrom('jobs')
      .select(['id', 'product', 'lease_epoch', 'lease_factory', 'stage'])
      .where('lease_expires_at', '<', now)
      .where('stage', 'in', ACTIVE_STAGES)
      .limit(500)
      .execute();
    const expired: ExpiredLease[] = [];
    for (const c of candidates) {
      const done = await this.backend.writeTransaction(async (trx) => {
        let lock = trx
          .selectFrom('jobs')
          .selectAll()
          .where('id', '=', c.id)
          // Compare-and-set: only the lease we saw, still expired, still in that stage. A job completed
          // or renewed a moment ago is left alone.
          .where('lease_epoch', '=', c.lease_epoch)
          .where('stage', '=', c.stage)
          .where('lease_expires_at', '<', now);
        if (this.backend.rowLocks) lock = lock.forUpdate().skipLocked();
        const row = await lock.executeTakeFirst();
        if (row === undefined) return undefined;
        const attempts = row.attempts + 1;
        const next = await this.requeueOrDeadLetter(trx, now, row, policy, {
          type: 'lease.expired',
          attempts,
          patch: { attempts, lease_epoch: row.lease_epoch + 1 },
          payload: { expiredEpoch: row.lease_epoch, factoryId: row.lease_factory },
          runOutcome: 'expired',
        });
        return next.stage as ExpiredLease['outcome'];
      });
      if (done !== undefined) {
        expired.push({
          jobId: c.id,
          product: c.product,
          epoch: c.lease_epoch,
          factoryId: c.lease_factory,
          stage: c.stage as Stage,
          outcome: done,
        });
        this.emit({ kind: 'events' }, { kind: 'jobs', product: c.product });
      }
    }
    return expired;
  }

  /** After a failed or expired run: back to the queue after a backoff, or dead-lettered. */
  private requeueOrDeadLetter(
    trx: Trx,
    now: number,
    row: JobRow,
    policy: RetryPolicy,
    plan: { type: string; attempts: number; patch?: JobPatch; payload?: Record<string, unknown>; runOutcome?: string },
  ): Promise<JobRow> {
    const counts = { attempts: plan.attempts, maxAttempts: row.max_attempts };
    if (plan.attempts >= row.max_attempts) {
      return this.applyTransition(trx, now, row, {
        to: 'dead_letter',
        actor: 'coordinator',
        type: plan.type,
        payload: { ...plan.payload, ...counts },
        patch: plan.patch,
        runOutcome: plan.runOutcome,
      });
    }
    const runAfter = now + policy.backoffMs(plan.attempts);
    return this.applyTransition(trx, now, row, {
      to: 'queued',
      actor: 'coordinator',
      type: plan.type,
      payload: { ...plan.payload, ...counts, runAfter },
      patch: { ...plan.patch, run_after: runAfter },
      runOutcome: plan.runOutcome,
    });
  }

  // ---- runs, events, tokens ---------------------------------------------------------------------

  async jobRuns(product: string, jobId: string): Promise<Run[]> {
    await requireJob(this.db, product, jobId);
    const rows = await this.db.selectFrom('runs').selectAll().where('job_id', '=', jobId).orderBy('epoch').execute();
    return rows.map(toRun);
  }

  async jobEvents(product: string, jobId: string): Promise<ConveyorEvent[]> {
    await requireJob(this.db, product, jobId);
    const rows = await this.db.selectFrom('events').selectAll().where('job_id', '=', jobId).orderBy('seq').execute();
    return rows.map(toEvent);
  }

  async readEvents(query: EventCursorQuery): Promise<ConveyorEvent[]> {
    return (await this.backend.readEvents(query)).map(toEvent);
  }

  // ---- factories, tokens, quarantine (store/factory-registry.ts, token-queries.ts, quarantine-queries.ts)

  heartbeat(input: HeartbeatInput): Promise<{ factory: Factory; joined: boolean }> {
    return factories.heartbeat(this.ctx, input);
  }

  markLostFactories(silentForMs: number): Promise<Factory[]> {
    return factories.markLostFactories(this.ctx, silentForMs);
  }

  listFactories(product: string): Promise<Factory[]> {
    return factories.listFactories(this.ctx, product);
  }

  setDrain(product: string, factoryId: string, drain: boolean): Promise<Factory> {
    return factories.setDrain(this.ctx, product, factoryId, drain);
  }

  createToken(input: { hash: string; role: Role; product: string | null; label: string | null }): Promise<Token> {
    return tokens.createToken(this.ctx, input);
  }

  hasTokens(): Promise<boolean> {
    return tokens.hasTokens(this.ctx);
  }

  findToken(hash: string): Promise<Token | undefined> {
    return tokens.findToken(this.ctx, hash);
  }

  quarantine(input: {
    product: string;
    jobId: string;
    epoch: number;
    reason: string;
    result: JobResult;
  }): Promise<QuarantinedResult> {
    return quarantined.quarantine(this.ctx, input);
  }

  listQuarantined(product: string, jobId: string): Promise<QuarantinedResult[]> {
    return quarantined.listQuarantined(this.ctx, product, jobId);
  }

  triage(product: string, jobId: string, quarantineId: string, action: TriageAction): Promise<QuarantinedResult> {
    return quarantined.triage(this.ctx, product, jobId, quarantineId, action);
  }

  // ---- shared pieces ----------------------------------------------------------------------------

  private async lockJob(trx: Trx, product: string, jobId: string): Promise<JobRow> {
    let query = trx.selectFrom('jobs').selectAll().where('id', '=', jobId).where('product', '=', product);
    if (this.backend.rowLocks) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (row === undefined) throw new NotFoundError(`no job ${jobId} in product ${product}`);
    return row;
  }

  private assertTransition(row: JobRow, to: Stage, actor: Actor): void {
    const from = row.stage as Stage;
    if (!canTransition(from, to, actor))
      throw new IllegalTransitionError(row.id, from, to, allowedTargets(from, actor));
  }

  /**
   * Moves a locked row to `transition.to`: updates the job, ends the current run when the job leaves
   * an active stage, and appends the event, flagged as the run's and the job life's only terminal one.
   */
  private async applyTransition(trx: Trx, now: number, row: JobRow, transition: Transition): Promise<JobRow> {
    const from = row.stage as Stage;
    // A parent waiting on its children is active without a lease: its run ended when it was decomposed.
    const leavesLease =
      transition.endsRun ?? (isActive(from) && !isActive(transition.to) && row.lease_factory !== null);
    const endsJob = transition.endsJob ?? isTerminal(transition.to);
    const patch: JobPatch = { ...transition.patch, stage: transition.to };
    if (leavesLease) {
      patch.lease_factory = null;
      patch.lease_expires_at = null;
      await trx
        .updateTable('runs')
        .set({ ended_at: now, outcome: transition.runOutcome ?? transition.to })
        .where('job_id', '=', row.id)
        .where('epoch', '=', row.lease_epoch)
        .execute();
    }
    const next = await this.updateJob(trx, now, row, patch);
    await appendEvents(trx, now, [
      {
        ...this.jobEvent(row, transition.type, transition.actor, { from, to: transition.to, ...transition.payload }),
        // The event belongs to the epoch it ends (the old lease), or the new one it starts.
        epoch: leavesLease ? row.lease_epoch : next.lease_epoch,
        endsRun: leavesLease,
        endsJob,
      },
    ]);
    // The end of a subtask's life settles its parent in this same transaction (family-queries.ts).
    if (next.parent_id !== null && endsJob) await family.settleParent(trx, now, this.mover, next, transition);
    return next;
  }

  private async updateJob(trx: Trx, now: number, row: JobRow, patch: JobPatch): Promise<JobRow> {
    return trx
      .updateTable('jobs')
      .set({ ...patch, updated_at: now })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  private jobEvent(row: JobRow, type: string, actor: Actor, payload: Record<string, unknown>): NewEvent {
    return { product: row.product, jobId: row.id, epoch: row.lease_epoch, type, actor, payload };
  }
}

/** Why `leaseEpoch` may not write to this job now, or undefined when it holds the lease. */
function fenceViolation(row: JobRow, leaseEpoch: number, now: number): string | undefined {
  if (row.lease_epoch !== leaseEpoch) return `the job was claimed again under epoch ${row.lease_epoch}`;
  if (!isActive(row.stage as Stage) || row.lease_factory === null) return `the job is ${row.stage} and holds no lease`;
  if (row.lease_expires_at === null || row.lease_expires_at <= now) return 'the lease expired';
  return undefined;
}
