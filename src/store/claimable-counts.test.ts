/**
 * Conformance, on SQLite and PostgreSQL: the queue counted per required capability set, as
 * `GET /api/factories/capacity` shows it — only jobs a claim could take now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityDemand } from '../core/claimable.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { decompositionFixture, TTL } from '../../test/helpers/decomposition.js';
import { newJob } from '../../test/helpers/jobs.js';
import type { Store } from './store.js';

describe.each(BACKENDS)('claimable jobs per capability set on %s', (backend) => {
  const fx = decompositionFixture(backend);
  let store: Store;
  beforeAll(async () => {
    store = await fx.open();
  });
  afterAll(() => fx.close());

  it('counts queued jobs that are due and wait on no sibling, grouped by their required capabilities', async () => {
    // A parent split in two (both need node): the second subtask waits for the first, the parent has no lease.
    const { product } = await fx.decomposed([
      { title: 'Schema', body: 'Add the table.' },
      { title: 'API', body: 'Add the route.', after: [1] },
    ]);
    const submit = (requiredCapabilities: string[], priority = 0) =>
      store.submit(newJob({ product, requiredCapabilities, priority }));
    await submit(['gpu', 'node']);
    await submit(['gpu', 'node']);
    await submit([]);
    await submit(['gemini']);
    // Claimed: not queued. Failed and requeued with a backoff: not due yet.
    await submit(['node'], 50);
    expect(
      (await store.claim({ product, factoryId: 'f1', capabilities: ['node'], leaseTtlMs: TTL }))?.job.priority,
    ).toBe(50);
    const { job: later } = await submit(['gpu', 'node'], 100);
    const claim = await store.claim({ product, factoryId: 'f1', capabilities: ['gpu', 'node'], leaseTtlMs: TTL });
    expect(claim?.job.id).toBe(later.id);
    await store.report(
      {
        jobId: later.id,
        product,
        factoryId: 'f1',
        leaseEpoch: claim!.leaseEpoch,
        stage: 'failed',
        error: { message: 'flaky', retryable: true },
      },
      { backoffMs: () => 60_000 },
    );
    expect(await store.getJob(product, later.id)).toMatchObject({ stage: 'queued' });
    // Another product's queue is its own.
    await store.submit(newJob({ product: `${product}-other`, requiredCapabilities: ['node'] }));

    const queue = await store.claimableByCapabilities(product);
    const byName = Object.fromEntries(queue.map((q) => [q.capabilities.join(','), q.jobs]));
    expect(byName).toEqual({ '': 1, gemini: 1, 'gpu,node': 2, node: 1 });

    // Against a fleet: only claiming factories count (not lost, stopped or draining).
    for (const [factoryId, capabilities, health] of [
      ['node-box', ['git', 'node'], 'ok'],
      ['gpu-box', ['gpu', 'node'], 'degraded'],
      ['gone', ['gemini', 'gpu', 'node'], 'stopped'],
      ['draining', ['gemini'], 'ok'],
    ] as const) {
      await store.heartbeat({ product, factoryId, capabilities: [...capabilities], health, load: 0 });
    }
    await store.setDrain(product, 'draining', true);
    expect(capabilityDemand(queue, await store.listFactories(product))).toEqual([
      { capabilities: [], claimableJobs: 1, factoriesAble: 2 },
      { capabilities: ['gemini'], claimableJobs: 1, factoriesAble: 0 },
      { capabilities: ['gpu', 'node'], claimableJobs: 2, factoriesAble: 1 },
      { capabilities: ['node'], claimableJobs: 1, factoriesAble: 2 },
    ]);

    // Once due, the failed job counts again.
    fx.clock.advance(60_000);
    expect((await store.claimableByCapabilities(product)).find((q) => q.capabilities.includes('gpu'))?.jobs).toBe(3);
  });
});
