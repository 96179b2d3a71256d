/**
 * Conformance for decomposition (parents and subtasks), on SQLite and PostgreSQL, on real databases:
 * splitting a job, fencing, ordering between siblings, and shipping the parent with its last child.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedError, ValidationError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { decompositionFixture, policy, TTL } from '../../test/helpers/decomposition.js';
import { newJob } from '../../test/helpers/jobs.js';
import type { Store } from './store.js';

describe.each(BACKENDS)('decomposition on %s', (backend) => {
  const fx = decompositionFixture(backend);
  const { clock, nextProduct, claim, decomposed, ship, types } = fx;
  let store: Store;

  beforeAll(async () => {
    store = await fx.open();
  });
  afterAll(() => fx.close());

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
      store.report({ jobId: parent.id, product, factoryId: 'f1', leaseEpoch: epoch, stage: 'testing' }, policy),
    ).rejects.toBeInstanceOf(FencedError);
    await expect(
      store.renew({ product, jobId: parent.id, factoryId: 'f1', leaseEpoch: epoch }, TTL),
    ).rejects.toBeInstanceOf(FencedError);
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
      factoryId: 'f1',
      leaseEpoch: epoch,
      subtasks: [{ title: 'Other', body: 'c' }],
    });
    expect(again.created).toBe(false);
    expect(again.children.map((c) => c.id)).toEqual(children.map((c) => c.id));
    await expect(
      store.decompose({
        product,
        jobId: parent.id,
        factoryId: 'f1',
        leaseEpoch: epoch + 1,
        subtasks: [{ title: 'x', body: 'y' }],
      }),
    ).rejects.toBeInstanceOf(FencedError);
    expect(await store.listChildren(product, parent.id)).toHaveLength(1);
  });

  it('fences a stale epoch, creating nothing, and refuses to split a subtask again', async () => {
    const product = nextProduct();
    const { job } = await store.submit(newJob({ product, requiredCapabilities: ['node'] }));
    const first = await claim(product);
    await store.release({ product, jobId: job.id, factoryId: 'f1', leaseEpoch: first!.leaseEpoch });
    const second = await claim(product);
    const eventsBefore = await store.jobEvents(product, job.id);
    const stale = store.decompose({
      product,
      jobId: job.id,
      factoryId: 'f1',
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
      factoryId: 'f1',
      leaseEpoch: second!.leaseEpoch,
      subtasks: [{ title: 'a', body: 'b' }],
    });
    const child = await claim(product);
    expect(child?.job.id).toBe(split.children[0]!.id);
    await expect(
      store.decompose({
        product,
        jobId: child!.job.id,
        factoryId: 'f1',
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
        await store.report({ jobId, product, factoryId: 'f1', leaseEpoch, stage }, policy);
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
          await store.report({ jobId: c!.job.id, product, factoryId: 'f1', leaseEpoch: c!.leaseEpoch, stage }, policy);
        }
      }
      await Promise.all(
        held.map((c, i) =>
          store.report(
            {
              jobId: c!.job.id,
              product,
              factoryId: 'f1',
              leaseEpoch: c!.leaseEpoch,
              stage: 'shipped',
              result: { commit: `c${i}` },
            },
            policy,
          ),
        ),
      );
      expect((await store.getJob(product, parent.id))?.stage).toBe('shipped');
      expect((await types(parent)).filter((t) => t === 'job.subtasks_shipped')).toHaveLength(1);
    }
  });
});
