/**
 * Runs one claimed job (DESIGN §5): worktree → setup → agent or pipeline → scope check → checkpoint → verify → ship,
 * reporting every stage with the lease epoch through the outbox. A 409 at any point aborts at once
 * (the agent's process tree is killed) and nothing ships. Shipping happens only after every report
 * was accepted and the lease was confirmed right before the push.
 */
import type { ConveyorAccess } from '../agents/executor.js';
import type { Redactor } from '../core/redact.js';
import type { ClaimedJob } from '../protocol/fleet.js';
import type { JobView } from '../protocol/views.js';
import type { Subtask } from '../core/decomposition.js';
import type { FactoryEvent } from '../core/events.js';
import type { Checkpoint, JobError, JobResult } from '../core/job.js';
import { isReconcileOnly, isRetriedClaim } from '../core/retry.js';
import type { Stage } from '../core/stages.js';
import type { FleetClient } from './fleet-client.js';
import { LeaseKeeper } from './lease-keeper.js';
import { type FlushResult, Outbox } from './outbox.js';
import { sleep } from './sleep.js';
import { type JobSteps, StepFailedError, type StepFailure } from './steps.js';

export type RunOutcome =
  | { kind: 'shipped'; result: JobResult }
  | { kind: 'failed'; error: JobError }
  /** The pipeline's architect needs a person's answer; unblocking the job requeues it. */
  | { kind: 'blocked'; question: string }
  /** The job was split into child jobs (their ids); it waits for them, and this run is over. */
  | { kind: 'decomposed'; children: string[] }
  /** Verified, the job waits for a person to approve `commit` (`approval: required`); this run is over. */
  | { kind: 'awaiting_approval'; commit: string }
  | { kind: 'fenced'; reason: string }
  | { kind: 'quarantined'; reason: string }
  | { kind: 'released' };

export interface RunnerOptions {
  client: FleetClient;
  steps: JobSteps;
  outboxDir: string;
  leaseTtlMs: number;
  /** Re-tries the outbox this often while the coordinator is unreachable. @default 1 000 */
  retryMs?: number;
  log: (fields: Record<string, unknown>, message: string) => void;
  /** Aborts the run from outside (the factory is stopping past its grace period). */
  stop: AbortSignal;
  /** Called when a result must be kept for human triage (the lease was lost while offline). */
  quarantine: (job: JobView, leaseEpoch: number, result: JobResult, reason: string) => Promise<void>;
  /**
   * Where a job's agent reaches the coordinator for its `allowedCommands`, and the redactor that must
   * know its credential while the job runs. Absent (offline mode): such a job's agent gets no commands.
   */
  agentAccess?: { url: string; redactor: Redactor } | undefined;
}

class Fenced extends Error {}

/** Observed events (model calls, tool calls) reach the coordinator at least this often while a step runs. */
const EVENT_FLUSH_MS = 1000;

export async function runJob(claim: ClaimedJob, options: RunnerOptions): Promise<RunOutcome> {
  const { job, leaseEpoch } = claim;
  const log = (message: string, fields: Record<string, unknown> = {}): void => {
    options.log({ jobId: job.id, epoch: leaseEpoch, ...fields }, message);
  };
  const lease = new LeaseKeeper(
    options.client,
    job.id,
    leaseEpoch,
    Math.max(100, Math.floor(options.leaseTtlMs / 3)),
    (m) => {
      log(m);
    },
  );
  const outbox = new Outbox(options.outboxDir, job.id, leaseEpoch, options.client);
  // Read through a function: the lease can be lost in a callback while a step awaits.
  const isAborted = (): boolean => lease.signal.aborted;
  const onStop = (): void => {
    lease.abort('the factory is stopping');
  };
  options.stop.addEventListener('abort', onStop);
  lease.start();

  /** Whether a report had to wait in the outbox: a fence found after that means the result is orphaned. */
  const outage = { seen: false };
  let disposition: 'done' | 'failed' | 'quarantined' = 'done';
  /** The job's agent credential while the job runs (its redactor knows it until then). */
  let credential: string | undefined;

  /**
   * What the job's agent may ask of Conveyor (`allowedCommands`): a credential issued for this lease.
   * None when the job allows no command, or offline; a coordinator that does not issue one (an older
   * coordinator, an outage) leaves the agent without commands, said in the log. 409: fenced.
   */
  const agentAccess = async (): Promise<ConveyorAccess | undefined> => {
    const access = options.agentAccess;
    const commands = job.allowedCommands ?? [];
    if (commands.length === 0) return undefined;
    if (access === undefined) {
      log(
        'the job allows its agent commands, but offline there is no coordinator for it to reach: it runs without them',
        { commands },
      );
      return undefined;
    }
    const issued = await options.client.agentCredential(job.id, leaseEpoch);
    if (issued.kind === 'fenced') throw new Fenced(issued.message);
    if (issued.kind !== 'ok') {
      log('no credential for the agent’s commands: it runs without them', { answer: issued.kind, commands });
      return undefined;
    }
    credential = issued.value.token;
    access.redactor.add(credential);
    const { commands: allowed, tools } = issued.value;
    return { url: access.url, token: credential, commands: allowed, ...(tools === undefined ? {} : { tools }) };
  };

  /** Keeps the result for a human: locally, and attached to the job at the coordinator. Never shipped. */
  const quarantine = async (result: JobResult, reason: string): Promise<RunOutcome> => {
    disposition = 'quarantined';
    await options.quarantine(job, leaseEpoch, result, reason);
    const reported = await options.client.quarantine(job.id, { leaseEpoch, reason, result });
    log('quarantined: the lease was lost while the coordinator was unreachable; kept for triage', {
      reported: reported.kind,
    });
    outbox.discard();
    return { kind: 'quarantined', reason };
  };

  /** What the run observed, sent in batches ahead of the next report (or by the timer below). */
  const observed: FactoryEvent[] = [];
  const emit = (event: FactoryEvent): void => {
    observed.push(event);
  };
  /** Queues the observed events in the outbox; unreachable is fine, a fence aborts (the lease keeper). */
  const sendObserved = async (): Promise<FlushResult> => {
    if (observed.length === 0) return { kind: 'flushed' };
    const flushed = await outbox.send({ events: { leaseEpoch, events: observed.splice(0, 500) } });
    if (flushed.kind === 'unreachable') outage.seen = true;
    if (flushed.kind === 'fenced') lease.check({ kind: 'fenced', currentEpoch: null, message: flushed.message });
    if (flushed.kind === 'rejected') log(`events refused: ${flushed.message}`);
    return flushed;
  };
  const observer = setInterval(() => {
    void sendObserved();
  }, EVENT_FLUSH_MS);

  /** Sends a report; a fence aborts the run. Unreachable is fine: the outbox keeps it. */
  const report = async (
    stage: Stage,
    extra: { checkpoint?: Checkpoint; result?: JobResult; error?: JobError } = {},
  ): Promise<void> => {
    while (observed.length > 0) await sendObserved();
    const flushed = await outbox.send({ report: { stage, leaseEpoch, ...extra } });
    if (flushed.kind === 'unreachable') outage.seen = true;
    if (flushed.kind === 'fenced') {
      lease.check({ kind: 'fenced', currentEpoch: null, message: flushed.message });
      throw new Fenced(flushed.message);
    }
    if (flushed.kind === 'unreachable')
      log('coordinator unreachable; report kept in the outbox', { stage, pending: flushed.pending });
    if (flushed.kind === 'rejected') log(`report refused: ${flushed.message}`, { stage });
    if (isAborted()) throw new Fenced(lease.fencedBy ?? 'aborted');
  };

  /**
   * Before anything leaves the machine: every report accepted, and the lease still ours. With `renew`
   * false (the shipped report ended the lease), only the reports are delivered.
   */
  const confirmLease = async (renew = true): Promise<FlushResult> => {
    for (;;) {
      if (lease.signal.aborted) return { kind: 'fenced', message: lease.fencedBy ?? 'aborted' };
      // What the run observed since its last report goes first: the answer that follows may end the
      // lease (approval, subtasks), and an event sent after that would be refused and left behind.
      // sendObserved logs refused events; they do not stop the run.
      const sent = observed.length > 0 ? await sendObserved() : undefined;
      const flushed = sent === undefined || sent.kind === 'rejected' ? await outbox.flush() : sent;
      if (flushed.kind === 'unreachable') {
        outage.seen = true;
        await sleep(options.retryMs ?? 1000, lease.signal);
        continue;
      }
      if (flushed.kind === 'fenced') return flushed;
      if (observed.length > 0) continue;
      if (flushed.kind !== 'flushed' || !renew) return flushed;
      const renewed = await options.client.renew(job.id, leaseEpoch);
      if (renewed.kind === 'ok') return { kind: 'flushed' };
      if (renewed.kind === 'fenced') return { kind: 'fenced', message: renewed.message };
      if (renewed.kind === 'rejected') return { kind: 'rejected', message: renewed.message };
      await sleep(options.retryMs ?? 1000, lease.signal);
    }
  };

  /** Reports the failure; `checkpoint` replaces the one the coordinator holds (what a retry resumes from). */
  const fail = async (failure: StepFailure, checkpoint?: Checkpoint): Promise<RunOutcome> => {
    const error: JobError = { code: failure.code, message: failure.message, retryable: failure.retryable };
    log(`failed: ${failure.message}`, { code: failure.code });
    await report('failed', {
      error,
      ...(failure.result === undefined ? {} : { result: failure.result }),
      ...(checkpoint === undefined ? {} : { checkpoint }),
    });
    const confirmed = await outbox.flush();
    if (confirmed.kind === 'fenced') return { kind: 'fenced', reason: confirmed.message };
    return { kind: 'failed', error };
  };

  /** The stage last reported: a pipeline moves the job between building and review while it builds. */
  let stage: Stage = 'building';
  /**
   * Splits the job into child jobs once every report is in and the lease is still ours. On success the
   * coordinator has ended the run: nothing more is reported or renewed. Asking again under the same
   * epoch answers the same children, so an unreachable coordinator is simply asked again.
   */
  const decompose = async (subtasks: Subtask[]): Promise<RunOutcome> => {
    for (;;) {
      const confirmed = await confirmLease();
      if (confirmed.kind === 'fenced') throw new Fenced(confirmed.message);
      if (confirmed.kind === 'rejected')
        return await fail({ code: 'report_refused', message: confirmed.message, retryable: true });
      const answer = await options.client.subtasks(job.id, { leaseEpoch, subtasks });
      if (answer.kind === 'ok') {
        lease.stop();
        const children = answer.value.children.map((child) => child.id);
        log('decomposed: the job waits for its subtasks', { children });
        return { kind: 'decomposed', children };
      }
      if (answer.kind === 'fenced') {
        lease.check(answer);
        throw new Fenced(answer.message);
      }
      if (answer.kind === 'rejected') {
        return await fail({ code: 'subtasks_refused', message: answer.message, retryable: false });
      }
      outage.seen = true;
      await sleep(options.retryMs ?? 1000, lease.signal);
    }
  };

  /** The job was shipped by an earlier run whose report was lost: say how it was found, and report it shipped. */
  const reconciled = async (ship: JobResult): Promise<RunOutcome> => {
    log('already shipped by an earlier run: reporting it shipped without running it again', { ship });
    const how = ship.policy === 'merge' ? 'trailer' : 'branch';
    emit({ type: 'ship.reconciled', payload: { ...ship, how, foundBy: 'claimant' } });
    await report('testing');
    const result: JobResult = { summary: 'shipped by an earlier run of this job, whose report was lost', ship };
    await lease.settle();
    await report('shipped', { result });
    const final = await outbox.flush();
    if (final.kind === 'fenced') return { kind: 'fenced', reason: final.message };
    return { kind: 'shipped', result };
  };

  try {
    await report('building');
    const prepared = await options.steps.prepare(job, lease.signal);
    if ('failure' in prepared) return await fail(prepared.failure);
    const workspace = prepared.workspace;

    /**
     * Ships the verified work once every report is in and the lease is still ours (confirmed again right
     * before the push), then reports it shipped.
     */
    const shipWork = async (summary: JobResult, checkpoint: Checkpoint): Promise<RunOutcome> => {
      const confirmed = await confirmLease();
      if (confirmed.kind === 'fenced') {
        if (outage.seen || lease.sawOutage) return await quarantine({ ...summary, checkpoint }, confirmed.message);
        throw new Fenced(confirmed.message);
      }
      if (confirmed.kind === 'rejected')
        return await fail({ code: 'report_refused', message: confirmed.message, retryable: true });
      const shipped = await options.steps.ship(job, workspace, async () => {
        // Right before the push: the lease must still be ours.
        const renewed = await options.client.renew(job.id, leaseEpoch);
        if (!lease.check(renewed) || renewed.kind !== 'ok')
          throw new Fenced(`cannot confirm the lease before shipping: ${renewed.kind}`);
      });
      if ('failure' in shipped) {
        disposition = 'failed';
        return await fail(shipped.failure);
      }
      const result: JobResult = { ...summary, ship: shipped.ship, checkpoint };
      // The shipped report ends the lease: nothing renews it after that (a renewal would be refused).
      await lease.settle();
      await report('shipped', { result });
      const final = await confirmLease(false).catch(() => ({ kind: 'flushed' as const }));
      if (final.kind === 'fenced') log('shipped, but the final report met a fence', { reason: final.message });
      return { kind: 'shipped', result };
    };

    /**
     * Verified work of a job with `approval: required`: asks the coordinator to hold it in `review` for a
     * person (once every report is in and the lease is ours); its answer ends the run. Asking again after
     * a lost answer meets the ended lease (a fence): the job waits already.
     */
    const awaitApproval = async (summary: JobResult, checkpoint: Checkpoint): Promise<RunOutcome> => {
      for (;;) {
        const confirmed = await confirmLease();
        if (confirmed.kind === 'fenced') throw new Fenced(confirmed.message);
        if (confirmed.kind === 'rejected')
          return await fail({ code: 'report_refused', message: confirmed.message, retryable: true });
        const answer = await options.client.requestApproval(job.id, { leaseEpoch, checkpoint, result: summary });
        if (answer.kind === 'ok') {
          lease.stop();
          log('verified: the job waits for a person to approve or reject it', { commit: checkpoint.wipCommit });
          return { kind: 'awaiting_approval', commit: checkpoint.wipCommit };
        }
        if (answer.kind === 'fenced') {
          lease.check(answer);
          throw new Fenced(answer.message);
        }
        if (answer.kind === 'rejected') {
          return await fail({ code: 'approval_refused', message: answer.message, retryable: false });
        }
        outage.seen = true;
        await sleep(options.retryMs ?? 1000, lease.signal);
      }
    };

    try {
      if (isRetriedClaim(leaseEpoch)) {
        // An earlier run may have shipped before its lease was lost: then the job is done, not run again.
        const found = await options.steps.findShipped(job, workspace);
        if ('failure' in found) return await fail(found.failure);
        if (found.ship !== undefined) return await reconciled(found.ship);
        if (isReconcileOnly(job)) {
          return await fail({
            code: 'not_shipped',
            message: `the last run lost its lease while it could have been shipping, and nothing of it is on the target; its ${String(job.maxAttempts)} attempt(s) are spent`,
            retryable: true,
          });
        }
      }
      const saved = job.checkpoint;
      const approved = saved?.approval?.state === 'approved' ? saved.approval.commit : undefined;
      if (saved !== null && approved !== undefined && prepared.resumedFrom === approved) {
        // A person approved this very commit after it passed verify: it ships as it is, nothing runs again.
        log('shipping the approved commit', { commit: approved });
        await report('testing');
        return await shipWork({ ...job.result, summary: `shipped the approved commit ${approved}` }, saved);
      }
      if (approved !== undefined) {
        // Never ship other work on that approval: run the job again; its new work waits for approval again.
        const message = `the approved commit ${approved} is not here (a local repository's work lives only in the factory that made it): running the job again; its new work will wait for approval again`;
        log(message);
        emit({ type: 'approval.commit_missing', payload: { commit: approved, message } });
      }
      const setUp = await options.steps.setup(job, workspace, lease.signal, emit);
      if (isAborted()) throw new Fenced(lease.fencedBy ?? 'aborted');
      if (setUp.failure !== undefined) {
        disposition = 'failed';
        return await fail(setUp.failure);
      }
      const conveyor = await agentAccess();
      const built = await options.steps.build(job, workspace, {
        ...(conveyor === undefined ? {} : { conveyor }),
        signal: lease.signal,
        log: (fields, message) => {
          log(message, fields);
        },
        emit,
        stage: async (next) => {
          if (next === stage) return;
          await report(next);
          stage = next;
        },
        checkpoint: async () => {
          // The same stage again: the coordinator records the checkpoint without a stage change.
          await report(stage, { checkpoint: await options.steps.checkpoint(job, workspace) });
        },
      });
      if (isAborted()) throw new Fenced(lease.fencedBy ?? 'aborted');
      const checkpoint = await options.steps.checkpoint(job, workspace);
      if (built.failure !== undefined) {
        disposition = 'failed';
        return await fail(built.failure);
      }
      if (built.blocked !== undefined) {
        const { question } = built.blocked;
        log('blocked: the job needs an answer from a person', { question });
        await report('blocked', {
          checkpoint,
          error: { code: 'needs_clarification', message: question, retryable: false },
          ...(built.result === undefined ? {} : { result: built.result }),
        });
        const confirmed = await outbox.flush();
        if (confirmed.kind === 'fenced') return { kind: 'fenced', reason: confirmed.message };
        return { kind: 'blocked', question };
      }
      if (built.decompose !== undefined) return await decompose(built.decompose.subtasks);
      await report('review', { checkpoint });
      await report('testing');
      const verified = await options.steps.verify(job, workspace, lease.signal, emit);
      if (isAborted()) throw new Fenced(lease.fencedBy ?? 'aborted');
      if (verified.failure !== undefined) {
        disposition = 'failed';
        // Verify failed the build's work: a retry resumes from that work but runs its steps again on it
        // (continuing the agent's session), so the checkpoint no longer names them finished.
        const { finished: _redo, ...unfinished } = checkpoint;
        return await fail(verified.failure, unfinished);
      }
      const summary = { ...built.result, summary: built.summary, verify: verified.results };
      if (job.approval === 'required') return await awaitApproval(summary, checkpoint);
      return await shipWork(summary, checkpoint);
    } catch (error) {
      if (error instanceof StepFailedError) {
        disposition = 'failed';
        return await fail(error.failure);
      }
      if (!(error instanceof Fenced) || !(outage.seen || lease.sawOutage)) throw error;
      // The replay after an outage met a fence: what was done meanwhile is orphaned, not wrong.
      const checkpoint = await options.steps.checkpoint(job, workspace).catch(() => undefined);
      return await quarantine(
        {
          summary: 'interrupted: the lease was lost during a coordinator outage',
          ...(checkpoint === undefined ? {} : { checkpoint }),
        },
        error.message,
      );
    } finally {
      await options.steps.cleanup(workspace, disposition);
    }
  } catch (error) {
    if (error instanceof Fenced || lease.signal.aborted) {
      const reason = lease.fencedBy ?? (error as Error).message;
      if (options.stop.aborted && lease.fencedBy === undefined) {
        const released = await options.client.release(job.id, leaseEpoch);
        log('released the lease: the factory is stopping', { answer: released.kind });
        outbox.discard();
        return { kind: 'released' };
      }
      log('fenced abort: stopped the job, shipped nothing', { reason });
      outbox.discard();
      return { kind: 'fenced', reason };
    }
    throw error;
  } finally {
    clearInterval(observer);
    lease.stop();
    options.stop.removeEventListener('abort', onStop);
    if (credential !== undefined) options.agentAccess?.redactor.forget(credential);
  }
}
