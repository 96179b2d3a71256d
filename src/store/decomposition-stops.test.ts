/**
 * Conformance for decomposition, on SQLite and PostgreSQL, on real databases: a child that stops blocks
 * its parent, and what a human's cancel, retry or answer does to a parent and its children.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedError, IllegalTransitionError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { decompositionFixture, policy, TTL } from '../../test/helpers/decomposition.js';
import type { Store } from './store.js';

describe.each(BACKENDS)('decomposition on %s: stopped children and human actions', (backend) => {
  const fx = decompositionFixture(backend);
  const { clock, claim, decomposed, ship } = fx;
  let store: Store;

  beforeAll(async () => {
    store = await fx.open();
  });
  afterAll(() => fx.close());

  it('blocks the parent when a child is dead-lettered, naming the child and its reason; a retry of the parent requeues the child', async () => {
    const { product, parent, children } = await decomposed([
      { title: 'Flaky', body: 'b' },
      { title: 'Fine', body: 'b' },
    ]);
    const [flaky, fine] = children as [Job, Job];
    for (let attempt = 1; attempt <= 2; attempt++) {
      const c = await claim(product);
      expect(c?.job.id).toBe(flaky.id);
      await store.report(
        {
          jobId: flaky.id,
          product,
          factoryId: 'f1',
          leaseEpoch: c!.leaseEpoch,
          stage: 'failed',
          error: { message: `verify failed (${String(attempt)})` },
        },
        policy,
      );
    }
    expect((await store.getJob(product, flaky.id))?.stage).toBe('dead_letter');
    const blocked = await store.getJob(product, parent.id);
    expect(blocked).toMatchObject({ stage: 'blocked', error: { code: 'subtask_stopped', retryable: false } });
    expect(blocked!.error!.message).toContain(`subtask 1/2 ${flaky.id} "Flaky" was dead-lettered: verify failed (2)`);
    expect((await store.jobEvents(product, parent.id)).at(-1)).toMatchObject({
      type: 'job.subtask_stopped',
      actor: 'coordinator',
      payload: { from: 'building', to: 'blocked', child: { id: flaky.id, position: '1/2', stage: 'dead_letter' } },
    });

    // The other child still runs and ships; the blocked parent stays blocked.
    await ship(fine, 'f00d000');
    expect((await store.getJob(product, parent.id))?.stage).toBe('blocked');

    const resumed = await store.retry(product, parent.id);
    expect(resumed).toMatchObject({ stage: 'building', error: null, lease: null });
    expect(await store.getJob(product, flaky.id)).toMatchObject({ stage: 'queued', attempts: 0, error: null });
    expect((await store.jobEvents(product, parent.id)).at(-1)).toMatchObject({
      type: 'job.resumed',
      actor: 'human',
      payload: { from: 'blocked', to: 'building', requeued: [flaky.id] },
    });
    await ship(flaky, 'beef000');
    expect(await store.getJob(product, parent.id)).toMatchObject({
      stage: 'shipped',
      result: { commits: ['beef000', 'f00d000'] },
    });
  });

  it('blocks the parent when a child’s lease expires for the last time or it fails for good; retrying the child resumes the parent', async () => {
    const { product, parent, children } = await decomposed(
      [
        { title: 'Lost', body: 'b' },
        { title: 'Broken', body: 'b' },
      ],
      { maxAttempts: 1 },
    );
    const [lost, broken] = children as [Job, Job];
    const c1 = await claim(product);
    const c2 = await claim(product);
    expect([c1?.job.id, c2?.job.id]).toEqual([lost.id, broken.id]);
    // Only the first child's lease runs out: the second is renewed in time.
    clock.advance(TTL - 1);
    await store.renew({ product, jobId: broken.id, factoryId: 'f1', leaseEpoch: c2!.leaseEpoch }, TTL);
    clock.advance(2);
    const expired = (await store.expireLeases(policy)).filter((e) => e.product === product);
    expect(expired.map((e) => [e.jobId, e.outcome])).toEqual([[lost.id, 'dead_letter']]);
    const blocked = await store.getJob(product, parent.id);
    expect(blocked?.stage).toBe('blocked');
    expect(blocked!.error!.message).toContain(`subtask 1/2 ${lost.id} "Lost" was dead-lettered: its lease expired`);

    // A second child failing for good does not move the already blocked parent.
    const failing = await store.report(
      {
        jobId: broken.id,
        product,
        factoryId: 'f1',
        leaseEpoch: c2!.leaseEpoch,
        stage: 'failed',
        error: { message: 'cannot build', retryable: false },
      },
      policy,
    );
    expect(failing.stage).toBe('failed');
    expect((await store.getJob(product, parent.id))?.error?.message).toContain('Lost');

    // Retrying one child leaves the parent blocked by the other; retrying that one resumes it.
    await store.retry(product, lost.id);
    expect((await store.getJob(product, parent.id))?.stage).toBe('blocked');
    await store.retry(product, broken.id);
    expect(await store.getJob(product, parent.id)).toMatchObject({ stage: 'building', error: null });
    await ship(lost, 'aaa0001');
    await ship(broken, 'bbb0002');
    expect((await store.getJob(product, parent.id))?.stage).toBe('shipped');
  });

  it('cancels the unfinished children with the parent, and a retry of the parent requeues them', async () => {
    const { product, parent, children, epoch } = await decomposed([
      { title: 'Done', body: 'b' },
      { title: 'Running', body: 'b' },
      { title: 'Waiting', body: 'b', after: [2] },
    ]);
    const [done, running, waiting] = children as [Job, Job, Job];
    await ship(done, 'd0e0000');
    const held = await claim(product);
    expect(held?.job.id).toBe(running.id);
    const cancelled = await store.cancel(product, parent.id, 'not needed');
    expect(cancelled).toMatchObject({ stage: 'cancelled' });
    expect((await store.getJob(product, done.id))?.stage).toBe('shipped');
    expect(await store.getJob(product, running.id)).toMatchObject({ stage: 'cancelled', lease: null });
    expect((await store.getJob(product, waiting.id))?.stage).toBe('cancelled');
    const reason = (await store.jobEvents(product, waiting.id)).at(-1)?.payload.reason;
    expect(reason).toBe(`its parent ${parent.id} was cancelled: not needed`);
    await expect(
      store.report(
        { jobId: running.id, product, factoryId: 'f1', leaseEpoch: held!.leaseEpoch, stage: 'building' },
        policy,
      ),
    ).rejects.toBeInstanceOf(FencedError);
    // The parent's run was already over: cancelling it ends no run a second time.
    expect((await store.jobRuns(product, parent.id)).map((r) => r.outcome)).toEqual(['decomposed']);

    const resumed = await store.retry(product, parent.id);
    expect(resumed).toMatchObject({ stage: 'building', leaseEpoch: epoch + 1 });
    expect((await store.getJob(product, running.id))?.stage).toBe('queued');
    expect((await store.getJob(product, waiting.id))?.stage).toBe('queued');
    await ship(running, 'aaa1234');
    await ship(waiting, 'bbb1234');
    expect(await store.getJob(product, parent.id)).toMatchObject({
      stage: 'shipped',
      result: { commits: ['d0e0000', 'aaa1234', 'bbb1234'] },
    });
  });

  it('answers an unblock of a blocked parent like a retry, keeping the answer', async () => {
    const { product, parent, children } = await decomposed([{ title: 'Only', body: 'b' }], { maxAttempts: 1 });
    const c = await claim(product);
    await store.report(
      {
        jobId: children[0]!.id,
        product,
        factoryId: 'f1',
        leaseEpoch: c!.leaseEpoch,
        stage: 'failed',
        error: { message: 'boom' },
      },
      policy,
    );
    expect((await store.getJob(product, parent.id))?.stage).toBe('blocked');
    const unblocked = await store.unblock(product, parent.id, 'try again with the new token');
    expect(unblocked.stage).toBe('building');
    expect(unblocked.clarifications).toEqual([
      expect.objectContaining({ answer: 'try again with the new token', question: expect.stringContaining('boom') }),
    ]);
    expect((await store.getJob(product, children[0]!.id))?.stage).toBe('queued');
    // A waiting parent is neither retried nor unblocked: only cancelled.
    await expect(store.retry(product, parent.id)).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(store.unblock(product, parent.id, 'x')).rejects.toThrow('allowed from building: cancelled');
  });
});
