/** Batch claim on both backends: the same jobs, order and bookkeeping as that many single claims. */
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { Store } from './store.js';

const TTL = 30_000;

describe.each(BACKENDS)('claimJobs on %s', (backend) => {
  const clock = new ManualClock();
  const opened = storePerFile(backend, clock);
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  it('takes up to maxJobs claimable jobs by priority then age, skipping what the factory cannot take', async () => {
    const product = 'batch';
    const submit = async (priority: number, requiredCapabilities: string[] = []) =>
      (await store.submit(newJob({ product, priority, requiredCapabilities }))).job.id;
    const low = await submit(0);
    const gpu = await submit(9, ['gpu']);
    const high = await submit(5);
    const node = await submit(3, ['node']);
    const request = { product, factoryId: 'f1', capabilities: ['node'], leaseTtlMs: TTL };
    const claims = await store.claimJobs(request, 10);
    expect(claims.map((c) => c.job.id)).toEqual([high, node, low]);
    for (const claim of claims) {
      expect(claim).toMatchObject({ leaseEpoch: 1, leaseExpiresAt: clock.now() + TTL });
      expect(claim.job).toMatchObject({ stage: 'assigned', lease: { factoryId: 'f1', epoch: 1 } });
      expect(await store.jobRuns(product, claim.job.id)).toEqual([
        expect.objectContaining({ epoch: 1, factoryId: 'f1', endedAt: null }),
      ]);
      const events = await store.jobEvents(product, claim.job.id);
      expect(events.map((e) => e.type)).toEqual(['job.created', 'job.claimed']);
    }
    expect(await store.claimJobs(request, 10)).toEqual([]);
    expect((await store.getJob(product, gpu))?.stage).toBe('queued');
  });

  it('takes no more than maxJobs, leaving the rest for the next claim', async () => {
    const product = 'batch-limit';
    for (let i = 0; i < 5; i++) await store.submit(newJob({ product }));
    const request = { product, factoryId: 'f1', capabilities: [], leaseTtlMs: TTL };
    expect(await store.claimJobs(request, 2)).toHaveLength(2);
    expect(await store.claimJobs(request, 2)).toHaveLength(2);
    expect(await store.claimJobs(request, 2)).toHaveLength(1);
  });
});
