/**
 * A lease lost while the job could have been shipping, with its attempts spent: the reaper queues it for
 * one reconcile-only claim instead of dead-lettering it blind. On both backends.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec } from '../core/job.js';
import { isReconcileOnly } from '../core/retry.js';
import type { Stage } from '../core/stages.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { RetryPolicy, Store } from './store.js';

const policy: RetryPolicy = { backoffMs: () => 1000 };
const TTL = 30_000;

describe.each(BACKENDS)('reconcile-only claims on %s', (backend) => {
  const clock = new ManualClock();
  const opened = storePerFile(backend, clock);
  let store: Store;
  let products = 0;
  beforeAll(() => {
    store = opened();
  });

  /** A job with one attempt, claimed and moved through `stages`, then its lease left to expire. */
  async function lostIn(stages: Stage[], spec: JobSpec = { ship: 'merge' }) {
    const product = `r${String(++products)}`;
    const { job } = await store.submit(newJob({ product, maxAttempts: 1, spec }));
    const claim = await store.claim({ product, factoryId: 'f1', capabilities: [], leaseTtlMs: TTL });
    expect(claim?.job.id).toBe(job.id);
    for (const stage of stages) {
      await store.report({ product, jobId: job.id, factoryId: 'f1', leaseEpoch: claim!.leaseEpoch, stage }, policy);
    }
    clock.advance(TTL + 1);
    await store.expireLeases(policy);
    return { product, id: job.id, epoch: claim!.leaseEpoch };
  }

  it('queues a job lost in testing for a claim that costs no attempt; failing it dead-letters the job', async () => {
    const { product, id, epoch } = await lostIn(['building', 'testing']);
    const queued = await store.getJob(product, id);
    expect(queued).toMatchObject({ stage: 'queued', attempts: 1, maxAttempts: 1, leaseEpoch: epoch + 1 });
    expect(queued!.runAfter).toBe(clock.now());
    expect(isReconcileOnly(queued!)).toBe(true);
    const expiry = (await store.jobEvents(product, id)).find((e) => e.type === 'lease.expired');
    expect(expiry?.payload).toMatchObject({ to: 'queued', reconcile: true, attempts: 1, maxAttempts: 1 });

    const reconcile = await store.claim({ product, factoryId: 'f2', capabilities: [], leaseTtlMs: TTL });
    expect(reconcile?.job).toMatchObject({ id, attempts: 1 });
    const leaseEpoch = reconcile!.leaseEpoch;
    await store.report({ product, jobId: id, factoryId: 'f2', leaseEpoch, stage: 'building' }, policy);
    const error = { code: 'not_shipped', message: 'nothing on the target', retryable: true };
    await store.report({ product, jobId: id, factoryId: 'f2', leaseEpoch, stage: 'failed', error }, policy);
    expect(await store.getJob(product, id)).toMatchObject({ stage: 'dead_letter', attempts: 1 });
  });

  it('lets the reconcile claim ship the job it found', async () => {
    const { product, id } = await lostIn(['building', 'testing']);
    const reconcile = await store.claim({ product, factoryId: 'f2', capabilities: [], leaseTtlMs: TTL });
    for (const stage of ['building', 'testing', 'shipped'] as const) {
      await store.report({ product, jobId: id, factoryId: 'f2', leaseEpoch: reconcile!.leaseEpoch, stage }, policy);
    }
    expect(await store.getJob(product, id)).toMatchObject({ stage: 'shipped', attempts: 1 });
  });

  it('queues a reconcile claim lost before it could tell again, and never counts past the maximum', async () => {
    const { product, id } = await lostIn(['building', 'testing']);
    await store.claim({ product, factoryId: 'f2', capabilities: [], leaseTtlMs: TTL });
    clock.advance(TTL + 1);
    await store.expireLeases(policy);
    expect(await store.getJob(product, id)).toMatchObject({ stage: 'queued', attempts: 1 });
  });

  it('dead-letters as before a job lost before testing, or one that ships nowhere', async () => {
    const building = await lostIn(['building']);
    expect(await store.getJob(building.product, building.id)).toMatchObject({ stage: 'dead_letter', attempts: 1 });
    const none = await lostIn(['building', 'testing'], { ship: 'none' });
    expect(await store.getJob(none.product, none.id)).toMatchObject({ stage: 'dead_letter', attempts: 1 });
  });
});
