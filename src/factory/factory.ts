/**
 * The factory process: heartbeats, claims jobs with long polls while a slot is free, runs them, and
 * drains on request (SIGTERM or the coordinator's drain flag): stop claiming, let running jobs finish
 * within the grace period, then release the leases of those still running. `stop` skips the grace
 * period (a second Ctrl-C): the running jobs' process trees are killed and their leases released now.
 */
import type { ClaimedJob, HeartbeatAnswer } from '../protocol/fleet.js';
import type { JobView } from '../protocol/views.js';
import type { JobResult } from '../core/job.js';
import { ClaimBatcher } from './claim-batcher.js';
import type { FleetClient, FleetOutcome } from './fleet-client.js';
import { runJob, type RunnerOptions, type RunOutcome } from './job-runner.js';
import { CoordinatorOutage, type FactoryLog } from './outage.js';
import { sleep } from './sleep.js';
import type { JobSteps } from './steps.js';

export interface FactoryOptions {
  /** Speaks for the factory: its `factoryId` is the factory's id. */
  /** Where jobs' agents reach the coordinator for their allowed commands (`RunnerOptions.agentAccess`). */
  agentAccess?: RunnerOptions['agentAccess'];
  client: FleetClient;
  steps: JobSteps;
  capabilities: string[];
  slots: number;
  version: string;
  outboxDir: string;
  /** Until the first heartbeat answers. @default 30 000 */
  leaseTtlMs?: number;
  /** How long a claim waits for a job. @default 20 000 */
  claimWaitMs?: number;
  /** Time given to running jobs when draining. @default 60 000 */
  graceMs?: number;
  /** Claim up to `slots` jobs once, run them, then stop. */
  once?: boolean;
  /**
   * With `once`: each slot keeps claiming until nothing is claimable, so one pass runs every job
   * queued (offline mode's `--once`: everything the inbox held). @default false
   */
  untilEmpty?: boolean;
  log: FactoryLog;
  quarantine: (job: JobView, leaseEpoch: number, result: JobResult, reason: string) => Promise<void>;
}

/** The coordinator refused this factory outright (a bad token, a wrong product): retrying cannot help. */
export class FactoryRefusedError extends Error {}

export interface FactoryRun {
  /** Resolves when the factory stopped; lists what each job came to. */
  done: Promise<RunOutcome[]>;
  /** Starts draining (idempotent). */
  drain(reason: string): void;
  /**
   * Drains without a grace period (idempotent): the running jobs' process trees are killed and their
   * leases released at once, so the coordinator queues them again without waiting for the leases to expire.
   */
  stop(reason: string): void;
}

/**
 * Whether a workspace found at start may belong to a job running elsewhere: its lease is held by
 * another factory (one sharing this workdir). A lease under this factory's own id was the earlier
 * process's, which is gone; when the coordinator cannot say, the workspace is kept.
 */
async function ownedElsewhere(client: FleetClient, jobId: string): Promise<boolean> {
  const answer = await client.job(jobId);
  if (answer.kind === 'unreachable') return true;
  if (answer.kind !== 'ok') return false;
  const holder = answer.value.lease?.factoryId;
  return holder !== undefined && holder !== client.factoryId;
}

export function startFactory(options: FactoryOptions): FactoryRun {
  const outcomes: RunOutcome[] = [];
  const draining = new AbortController();
  const stopJobs = new AbortController();
  const claimWaitMs = options.claimWaitMs ?? 20_000;
  let leaseTtlMs = options.leaseTtlMs ?? 30_000;
  let heartbeatMs = 10_000;
  let running = 0;
  const log = options.log;
  // One warning when the coordinator cannot be reached, one line when it answers again; claims back
  // off from 1 s to 30 s meanwhile.
  const outage = new CoordinatorOutage({ log });
  // Read through a function: the flag flips in callbacks while the loops await.
  const isDraining = (): boolean => draining.signal.aborted;

  const drain = (reason: string): void => {
    if (draining.signal.aborted) return;
    log({ reason, running }, 'draining: no new claims');
    draining.abort();
    const grace = setTimeout(() => {
      if (running > 0) log({ running }, 'grace period over: releasing the leases of running jobs');
      stopJobs.abort();
    }, options.graceMs ?? 60_000);
    grace.unref();
  };

  const stop = (reason: string): void => {
    drain(reason);
    if (stopJobs.signal.aborted) return;
    log({ reason, running }, 'stopping now: killing the running jobs and releasing their leases');
    stopJobs.abort();
  };

  /** `last`: the factory is exiting; it says `stopped`, so the fleet lists it as stopped rather than lost. */
  const heartbeat = async (last = false): Promise<FleetOutcome<HeartbeatAnswer>> => {
    const answer = await options.client.heartbeat({
      capabilities: options.capabilities,
      health: last ? 'stopped' : draining.signal.aborted ? 'draining' : 'ok',
      load: running,
      slots: options.slots,
      version: options.version,
    });
    if (answer.kind === 'unreachable') {
      outage.failed('heartbeat', answer.message);
      return answer;
    }
    outage.answered();
    if (answer.kind !== 'ok') {
      log({ answer: answer.kind, message: answer.message }, 'heartbeat not accepted', 'warn');
      return answer;
    }
    leaseTtlMs = answer.value.leaseTtlSec * 1000;
    heartbeatMs = answer.value.heartbeatSec * 1000;
    if (answer.value.drain) drain('the coordinator asked this factory to drain');
    return answer;
  };

  // Slots freed together claim together: one call for as many jobs as they are.
  const claims = new ClaimBatcher(options.client);
  const slot = async (n: number): Promise<void> => {
    /** Failed claims in a row: the backoff grows with them. */
    let failures = 0;
    while (!draining.signal.aborted) {
      const claim = await claims.claim(
        { capabilities: options.capabilities, waitMs: options.once === true ? 0 : claimWaitMs },
        draining.signal,
      );
      if (claim.kind === 'unreachable') {
        if (isDraining()) return;
        failures += 1;
        outage.failed('claim', claim.message);
        await outage.wait(failures, draining.signal);
        continue;
      }
      failures = 0;
      outage.answered();
      if (isDraining() && claim.kind === 'ok' && claim.value !== undefined) {
        // Claimed while starting to drain: give it straight back.
        await options.client.release(claim.value.job.id, claim.value.leaseEpoch);
        return;
      }
      if (claim.kind === 'rejected') {
        // A refused claim (a bad token, a wrong product) will not get better by retrying.
        drain(`the coordinator refused to hand out jobs: ${claim.message}`);
        return;
      }
      if (claim.kind !== 'ok') {
        // A fence on a claim (no lease was named): a coordinator bug, not an outage; try again shortly.
        if (isDraining()) return;
        log({ slot: n, answer: claim.kind, message: claim.message }, 'claim failed; retrying', 'warn');
        await sleep(1000, draining.signal);
        continue;
      }
      if (claim.value === undefined) {
        if (options.once === true) return;
        continue;
      }
      outcomes.push(await run(claim.value));
      if (options.once === true && options.untilEmpty !== true) return;
    }
  };

  const run = async (claim: ClaimedJob): Promise<RunOutcome> => {
    running += 1;
    log({ jobId: claim.job.id, epoch: claim.leaseEpoch, title: claim.job.title }, 'claimed');
    try {
      const outcome = await runJob(claim, {
        client: options.client,
        steps: options.steps,
        outboxDir: options.outboxDir,
        leaseTtlMs,
        log,
        stop: stopJobs.signal,
        quarantine: options.quarantine,
        agentAccess: options.agentAccess,
      });
      log({ jobId: claim.job.id, epoch: claim.leaseEpoch, outcome: outcome.kind }, `job ${outcome.kind}`);
      return outcome;
    } catch (error) {
      log({ jobId: claim.job.id, err: error }, 'job crashed in the factory');
      const message = `factory error: ${(error as Error).message}`;
      await options.client.report(claim.job.id, {
        stage: 'failed',
        leaseEpoch: claim.leaseEpoch,
        error: { code: 'factory_error', message, retryable: true },
      });
      return { kind: 'failed', error: { code: 'factory_error', message, retryable: true } };
    } finally {
      running -= 1;
    }
  };

  const done = (async (): Promise<RunOutcome[]> => {
    const first = await heartbeat();
    if (first.kind === 'rejected')
      throw new FactoryRefusedError(`the coordinator refused this factory: ${first.message}`);
    const swept = await options.steps.sweep((jobId) => ownedElsewhere(options.client, jobId));
    if (swept.length > 0) log({ jobs: swept }, 'removed worktrees that no live job owns');
    // Its own signal: heartbeats go on at their pace while jobs are being stopped past the grace period
    // (sleeping on `stopJobs` would turn this loop into a busy loop of heartbeats until they are).
    const beating = new AbortController();
    // Read through a function: the flag flips while the loop sleeps.
    const beatingOn = (): boolean => !beating.signal.aborted;
    const beat = async (): Promise<void> => {
      while (beatingOn()) {
        await sleep(heartbeatMs, beating.signal);
        if (beatingOn()) await heartbeat();
      }
    };
    const beats = beat();
    await Promise.all(Array.from({ length: options.slots }, (_, n) => slot(n)));
    beating.abort();
    stopJobs.abort();
    await beats;
    // A last heartbeat so the fleet view shows the factory stopped (not lost once it falls silent).
    await heartbeat(true);
    return outcomes;
  })();

  return { done, drain, stop };
}
