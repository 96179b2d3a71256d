/**
 * Conformance for human approval before merge (`approval: required`), on SQLite and PostgreSQL, on real
 * databases: verified work waits in `review` without a lease, then is approved (requeued to ship the
 * approved commit) or rejected (back to the agent with the reason, or failed).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FencedError, IllegalTransitionError, NotAwaitingApprovalError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { RetryPolicy, Store } from './store.js';

const policy: RetryPolicy = { backoffMs: (attempts) => attempts * 1000 };
const TTL = 30_000;
const COMMIT = 'abc1234def5678';

describe.each(BACKENDS)('approval on %s', (backend) => {
  const clock = new ManualClock();
  const opened = storePerFile(backend, clock);
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  let products = 0;
  /** A job claimed by f1 and reported up to `testing` (verify running), approval as given. */
  async function inTesting(approval: 'required' | 'none' = 'required') {
    const product = `a${String(++products)}`;
    await store.submit(newJob({ product, spec: { approval } }));
    const claim = (await store.claim({ product, factoryId: 'f1', capabilities: [], leaseTtlMs: TTL }))!;
    const fence = { product, jobId: claim.job.id, factoryId: 'f1', leaseEpoch: claim.leaseEpoch };
    for (const stage of ['building', 'review', 'testing'] as const) await store.report({ ...fence, stage }, policy);
    return fence;
  }
  const checkpoint = { wipBranch: 'conveyor/x', wipCommit: COMMIT, finished: ['agent'] };

  async function awaiting(): Promise<{ job: Job; fence: Awaited<ReturnType<typeof inTesting>> }> {
    const fence = await inTesting();
    const job = await store.requestApproval({ ...fence, checkpoint, result: { summary: 'done' } });
    return { job, fence };
  }

  it('holds verified work in review without a lease, the commit marked awaiting, the run ended', async () => {
    const { job, fence } = await awaiting();
    expect(job).toMatchObject({
      stage: 'review',
      lease: null,
      checkpoint: { ...checkpoint, approval: { state: 'awaiting', commit: COMMIT } },
      result: { summary: 'done' },
    });
    expect((await store.jobRuns(fence.product, fence.jobId))[0]).toMatchObject({ outcome: 'awaiting_approval' });
    const events = await store.jobEvents(fence.product, fence.jobId);
    expect(events.at(-1)).toMatchObject({
      type: 'job.approval_requested',
      actor: 'factory',
      payload: { from: 'testing', to: 'review', commit: COMMIT },
    });
    // Nothing claims it, the old holder cannot write, the reaper leaves it.
    expect(await store.claim({ product: fence.product, factoryId: 'f2', capabilities: [], leaseTtlMs: TTL })).toBe(
      undefined,
    );
    await expect(store.report({ ...fence, stage: 'shipped' }, policy)).rejects.toBeInstanceOf(FencedError);
    clock.advance(TTL * 2);
    expect((await store.expireLeases(policy)).map((e) => e.jobId)).not.toContain(fence.jobId);
    expect((await store.getJob(fence.product, fence.jobId))?.stage).toBe('review');
  });

  it('refuses to hold a job that does not require approval, or one not in testing', async () => {
    const fence = await inTesting('none');
    await expect(store.requestApproval({ ...fence, checkpoint })).rejects.toBeInstanceOf(IllegalTransitionError);
    expect((await store.getJob(fence.product, fence.jobId))?.stage).toBe('testing');
    const building = await inTesting();
    await store.report({ ...building, stage: 'building' }, policy);
    await expect(store.requestApproval({ ...building, checkpoint })).rejects.toBeInstanceOf(IllegalTransitionError);
    // Nor may a factory's plain report take a job from testing to review.
    const plain = await inTesting();
    await expect(store.report({ ...plain, stage: 'review' }, policy)).rejects.toBeInstanceOf(IllegalTransitionError);
  });

  it('approves: requeued with agent and verify finished and the approved commit, for a run that ships it', async () => {
    const { fence } = await awaiting();
    const approved = await store.approve(fence.product, fence.jobId);
    expect(approved).toMatchObject({
      stage: 'queued',
      checkpoint: { ...checkpoint, finished: ['agent', 'verify'], approval: { state: 'approved', commit: COMMIT } },
    });
    expect((await store.jobEvents(fence.product, fence.jobId)).at(-1)).toMatchObject({
      type: 'job.approved',
      actor: 'human',
      payload: { from: 'review', to: 'queued', commit: COMMIT },
    });
    const claim = await store.claim({ product: fence.product, factoryId: 'f2', capabilities: [], leaseTtlMs: TTL });
    expect(claim?.job.checkpoint?.approval).toEqual({ state: 'approved', commit: COMMIT });
    // Approved once: approving again is refused with 409, naming what the job does.
    await expect(store.approve(fence.product, fence.jobId)).rejects.toThrow(
      /is not waiting for approval \(it is assigned\)/,
    );
  });

  it('rejects back to the agent: requeued from the work, its steps to run again, the reason a clarification', async () => {
    const { fence } = await awaiting();
    const rejected = await store.reject(fence.product, fence.jobId, { reason: 'Use the logger.', action: 'retry' });
    expect(rejected).toMatchObject({
      stage: 'queued',
      error: null,
      checkpoint: { wipBranch: 'conveyor/x', wipCommit: COMMIT },
    });
    expect(rejected.checkpoint?.finished).toBeUndefined();
    expect(rejected.checkpoint?.approval).toBeUndefined();
    expect(rejected.clarifications).toEqual([
      {
        question: expect.stringContaining('rejected by a reviewer') as string,
        answer: 'Use the logger.',
        answeredAt: clock.now(),
      },
    ]);
    expect((await store.jobEvents(fence.product, fence.jobId)).at(-1)).toMatchObject({
      type: 'job.rejected',
      actor: 'human',
      payload: { from: 'review', to: 'queued', commit: COMMIT, reason: 'Use the logger.', action: 'retry' },
    });
  });

  it('rejects for good: failed with the reason, ending the job', async () => {
    const { fence } = await awaiting();
    const failed = await store.reject(fence.product, fence.jobId, { reason: 'Not wanted.', action: 'fail' });
    expect(failed).toMatchObject({
      stage: 'failed',
      error: { code: 'rejected', message: 'rejected: Not wanted.', retryable: false },
    });
    // A person may still retry it later, as any failed job.
    expect((await store.retry(fence.product, fence.jobId)).stage).toBe('queued');
  });

  it('answers 409 for approving or rejecting a job that is not waiting for approval', async () => {
    const fence = await inTesting();
    await expect(store.approve(fence.product, fence.jobId)).rejects.toBeInstanceOf(NotAwaitingApprovalError);
    await expect(store.reject(fence.product, fence.jobId, { reason: 'no', action: 'fail' })).rejects.toBeInstanceOf(
      NotAwaitingApprovalError,
    );
    expect((await store.getJob(fence.product, fence.jobId))?.stage).toBe('testing');
  });
});
