/** Conformance for decomposition (parents and subtasks), on SQLite and PostgreSQL, on real databases. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subtask } from '../core/decomposition.js';
import { FencedError, IllegalTransitionError, ValidationError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS, freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { openStore } from './open-store.js';
import type { RetryPolicy, Store } from './store.js';

const policy: RetryPolicy = { backoffMs: () => 0 };
const TTL = 30_000;

describe.each(BACKENDS)('decomposition on %s', (backend) => {
  let database: TestDatabase;
  let store: Store;
  const clock = new ManualClock();

  beforeAll(async () => {
    database = await freshDatabase(backend);
    store = await openStore(database.url, { clock });
  });
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  let products = 0;
  const claim = (product: string, factoryId = 'f1') =>
    store.claim({ product, factoryId, capabilities: ['node'], leaseTtlMs: TTL });

  /** A claimed parent in `building`, in a product of its own, split into `subtasks`. */
  async function decomposed(subtasks: Subtask[], overrides: Parameters<typeof newJob>[0] = {}) {
    const product = `d${String(++products)}`;
    const { job } = await store.submit(
      newJob({
        product,
        repo: '/repos/app',
        base: 'main',
        target: 'release',
        requiredCapabilities: ['node'],
        priority: 3,
        maxAttempts: 2,
        spec: {
          agent: { runtime: 'command', run: 'true' },
          pipeline: 'standard',
          verify: ['npm test'],
          ship: 'merge',
          scope: { write: ['src/**'] },
          metadata: { queueFile: 'parent.md' },
        },
        ...overrides,
      }),
    );
    const claimed = await claim(product);
    expect(claimed?.job.id).toBe(job.id);
    const epoch = claimed!.leaseEpoch;
    await store.report({ jobId: job.id, product, leaseEpoch: epoch, stage: 'building' }, policy);
    const split = await store.decompose({ product, jobId: job.id, leaseEpoch: epoch, subtasks });
    return { product, parent: split.parent, children: split.children, epoch };
  }

  /** Claims a specific child (it must be the one claimable next) and walks it to shipped. */
  async function ship(child: Job, commit: string, factoryId = 'f1') {
    const claimed = await claim(child.product, factoryId);
    expect(claimed?.job.id).toBe(child.id);
    const leaseEpoch = claimed!.leaseEpoch;
    for (const stage of ['building', 'testing'] as const) {
      await store.report({ jobId: child.id, product: child.product, leaseEpoch, stage }, policy);
    }
    return store.report(
      { jobId: child.id, product: child.product, leaseEpoch, stage: 'shipped', result: { commit } },
      policy,
    );
  }

  const types = async (job: Job) => (await store.jobEvents(job.product, job.id)).map((e) => e.type);

  it('creates children that inherit the parent, ends the parent’s run and leaves it waiting without a lease', async () => {
    const { product, parent, children, epoch } = await decomposed([
      { title: 'Schema', body: 'Add the table.' },
      { title: 'API', body: 'Add the route.', after: [1], pipeline: 'standard' },
    ]);
    expect(parent).toMatchObject({ stage: 'building', lease: null, leaseEpoch: epoch, parentId: null });
    expect(children).toHaveLength(2);
    expect(children[0]).toMatchObject({
      product,
      title: 'Schema',
      body: 'Add the table.',
      stage: 'queued',
      source: `job:${parent.id}#1/2`,
      repo: '/repos/app',
      base: 'main',
      target: 'release',
      requiredCapabilities: ['node'],
      priority: 3,
      maxAttempts: 2,
      parentId: parent.id,
      position: 1,
      siblings: 2,
      after: [],
      leaseEpoch: 0,
      spec: {
        agent: { runtime: 'command', run: 'true' },
        pipeline: 'solo',
        verify: ['npm test'],
        ship: 'merge',
        scope: { write: ['src/**'] },
      },
    });
    expect(children[0]!.spec.metadata).toBeUndefined();
    expect(children[1]).toMatchObject({ position: 2, after: [1], spec: { pipeline: 'standard' } });

    expect(await types(parent)).toEqual(['job.created', 'job.claimed', 'stage.changed', 'job.decomposed']);
    const decomposedEvent = (await store.jobEvents(product, parent.id)).at(-1);
    expect(decomposedEvent).toMatchObject({
      epoch,
      actor: 'factory',
      payload: {
        from: 'building',
        to: 'building',
        children: [
          { id: children[0]!.id, position: '1/2', title: 'Schema', after: [] },
          { id: children[1]!.id, position: '2/2', title: 'API', after: [1] },
        ],
      },
    });
    expect((await store.jobEvents(product, children[1]!.id)).map((e) => [e.type, e.payload])).toEqual([
      [
        'job.created',
        expect.objectContaining({ parentId: parent.id, position: '2/2', after: [1], to: 'queued' }) as unknown,
      ],
    ]);
    expect(await store.jobRuns(product, parent.id)).toEqual([
      expect.objectContaining({ epoch, outcome: 'decomposed', endedAt: clock.now() }),
    ]);
    expect((await store.listChildren(product, parent.id)).map((c) => c.id)).toEqual(children.map((c) => c.id));
    expect((await store.listJobs({ product, parentId: parent.id, limit: 10 })).map((c) => c.id).sort()).toEqual(
      children.map((c) => c.id).sort(),
    );

    // The old holder is fenced; the reaper leaves the waiting parent alone; it is never claimable.
    await expect(
      store.report({ jobId: parent.id, product, leaseEpoch: epoch, stage: 'testing' }, policy),
    ).rejects.toBeInstanceOf(FencedError);
    await expect(store.renew(product, parent.id, epoch, TTL)).rejects.toBeInstanceOf(FencedError);
    clock.advance(TTL * 3);
    expect((await store.expireLeases(policy)).filter((e) => e.product === product)).toEqual([]);
    expect(await store.getJob(product, parent.id)).toMatchObject({ stage: 'building', leaseEpoch: epoch });
    expect((await claim(product))?.job.id).toBe(children[0]!.id);
    expect(await claim(product)).toBeUndefined();
  });

  it('answers the same children when the same run asks again, and refuses any other epoch', async () => {
    const { product, parent, children, epoch } = await decomposed([{ title: 'One', body: 'b' }]);
    const again = await store.decompose({
      product,
      jobId: parent.id,
      leaseEpoch: epoch,
      subtasks: [{ title: 'Other', body: 'c' }],
    });
    expect(again.created).toBe(false);
    expect(again.children.map((c) => c.id)).toEqual(children.map((c) => c.id));
    await expect(
      store.decompose({ product, jobId: parent.id, leaseEpoch: epoch + 1, subtasks: [{ title: 'x', body: 'y' }] }),
    ).rejects.toBeInstanceOf(FencedError);
    expect(await store.listChildren(product, parent.id)).toHaveLength(1);
  });

  it('fences a stale epoch, creating nothing, and refuses to split a subtask again', async () => {
    const product = `d${String(++products)}`;
    const { job } = await store.submit(newJob({ product, requiredCapabilities: ['node'] }));
    const first = await claim(product);
    await store.release(product, job.id, first!.leaseEpoch);
    const second = await claim(product);
    const eventsBefore = await store.jobEvents(product, job.id);
    const stale = store.decompose({
      product,
      jobId: job.id,
      leaseEpoch: first!.leaseEpoch,
      subtasks: [{ title: 'a', body: 'b' }],
    });
    await expect(stale).rejects.toBeInstanceOf(FencedError);
    expect(await store.listChildren(product, job.id)).toEqual([]);
    expect(await store.listJobs({ product, limit: 10 })).toHaveLength(1);
    const eventsAfter = await store.jobEvents(product, job.id);
    expect(eventsAfter.slice(eventsBefore.length).map((e) => e.type)).toEqual(['fence.rejected']);
    expect(await store.getJob(product, job.id)).toMatchObject({ stage: 'assigned', leaseEpoch: second!.leaseEpoch });

    const split = await store.decompose({
      product,
      jobId: job.id,
      leaseEpoch: second!.leaseEpoch,
      subtasks: [{ title: 'a', body: 'b' }],
    });
    const child = await claim(product);
    expect(child?.job.id).toBe(split.children[0]!.id);
    await expect(
      store.decompose({
        product,
        jobId: child!.job.id,
        leaseEpoch: child!.leaseEpoch,
        subtasks: [{ title: 'c', body: 'd' }],
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('keeps a child waiting for an earlier sibling unclaimable until that sibling shipped', async () => {
    const { product, children } = await decomposed([
      { title: 'First', body: 'b' },
      { title: 'After first', body: 'b', after: [1] },
      { title: 'Independent', body: 'b' },
      { title: 'After all', body: 'b', after: [1, 2, 3] },
    ]);
    const [first, second, third, fourth] = children as [Job, Job, Job, Job];
    const a = await claim(product);
    const b = await claim(product);
    expect([a?.job.id, b?.job.id]).toEqual([first.id, third.id]);
    expect(await claim(product)).toBeUndefined();
    const finish = async (jobId: string, leaseEpoch: number) => {
      for (const stage of ['building', 'testing', 'shipped'] as const) {
        await store.report({ jobId, product, leaseEpoch, stage }, policy);
      }
    };
    // Shipping the independent third frees nothing yet.
    await finish(third.id, b!.leaseEpoch);
    expect(await claim(product)).toBeUndefined();
    await finish(first.id, a!.leaseEpoch);
    expect((await claim(product))?.job.id).toBe(second.id);
    expect(await claim(product)).toBeUndefined();
    expect((await store.getJob(product, fourth.id))?.stage).toBe('queued');
  });

  it('ships the parent in the transaction of its last child, with every child’s result', async () => {
    const { product, parent, children, epoch } = await decomposed([
      { title: 'One', body: 'b' },
      { title: 'Two', body: 'b', after: [1] },
      { title: 'Three', body: 'b', after: [2] },
    ]);
    await ship(children[0]!, 'aaa1111', 'f1');
    await ship(children[1]!, 'bbb2222', 'f2');
    expect((await store.getJob(product, parent.id))?.stage).toBe('building');
    const last = await ship(children[2]!, 'ccc3333', 'f1');
    expect(last.stage).toBe('shipped');
    const shipped = await store.getJob(product, parent.id);
    expect(shipped).toMatchObject({
      stage: 'shipped',
      lease: null,
      leaseEpoch: epoch,
      result: {
        summary: 'all 3 subtasks shipped',
        commits: ['aaa1111', 'bbb2222', 'ccc3333'],
        children: [
          { id: children[0]!.id, position: '1/3', title: 'One', result: { commit: 'aaa1111' } },
          { id: children[1]!.id, position: '2/3', title: 'Two', result: { commit: 'bbb2222' } },
          { id: children[2]!.id, position: '3/3', title: 'Three', result: { commit: 'ccc3333' } },
        ],
      },
    });
    const events = await store.jobEvents(product, parent.id);
    expect(events.map((e) => e.type)).toEqual([
      'job.created',
      'job.claimed',
      'stage.changed',
      'job.decomposed',
      'job.subtasks_shipped',
    ]);
    expect(events.at(-1)).toMatchObject({
      actor: 'coordinator',
      epoch,
      payload: { from: 'building', to: 'shipped', children: children.map((c) => c.id) },
    });
    // After the last child's own event, and committed with it.
    const lastChildShipped = (await store.jobEvents(product, children[2]!.id)).at(-1)!;
    expect(lastChildShipped).toMatchObject({ type: 'stage.changed', payload: { to: 'shipped' } });
    expect(events.at(-1)!.seq).toBeGreaterThan(lastChildShipped.seq);
    expect(events.at(-1)!.at).toBe(lastChildShipped.at);
  });

  it('ships the parent exactly once when its last two children ship at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const { product, parent, children } = await decomposed([
        { title: 'Left', body: 'b' },
        { title: 'Right', body: 'b' },
        { title: 'Middle', body: 'b' },
      ]);
      const held = await Promise.all(children.map(() => claim(product)));
      for (const c of held) {
        for (const stage of ['building', 'testing'] as const) {
          await store.report({ jobId: c!.job.id, product, leaseEpoch: c!.leaseEpoch, stage }, policy);
        }
      }
      await Promise.all(
        held.map((c, i) =>
          store.report(
            { jobId: c!.job.id, product, leaseEpoch: c!.leaseEpoch, stage: 'shipped', result: { commit: `c${i}` } },
            policy,
          ),
        ),
      );
      expect((await store.getJob(product, parent.id))?.stage).toBe('shipped');
      expect((await types(parent)).filter((t) => t === 'job.subtasks_shipped')).toHaveLength(1);
    }
  });

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
    await store.renew(product, broken.id, c2!.leaseEpoch, TTL);
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
      store.report({ jobId: running.id, product, leaseEpoch: held!.leaseEpoch, stage: 'building' }, policy),
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
      { jobId: children[0]!.id, product, leaseEpoch: c!.leaseEpoch, stage: 'failed', error: { message: 'boom' } },
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
