/**
 * The long-poll waiters against a real store on both backends: a waiter armed before a commit is woken
 * by it, a job that becomes due by the clock wakes it with no signal at all, and a waiter that no
 * queued job suits is left parked until its deadline (it does not re-run its claim every second).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS, freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { ClaimWaiters } from './claim-waiters.js';

const PRODUCT = 'waiters';

/** How long `wait` took to resolve, in ms. */
async function timed(wait: Promise<void>): Promise<number> {
  const started = performance.now();
  await wait;
  return performance.now() - started;
}

describe.each(BACKENDS)('claim waiters on %s', (backend) => {
  let database: TestDatabase;
  let store: Store;
  let waiters: ClaimWaiters;
  const clock = new ManualClock(Date.now());

  beforeEach(async () => {
    database = await freshDatabase(backend);
    store = await openStore(database.url, { clock });
    waiters = new ClaimWaiters(store);
  });
  afterEach(async () => {
    waiters.close();
    await store.close();
    await database.drop();
  });

  it('wakes a waiter armed before a job committed, even when it commits before the wait starts', async () => {
    const waiter = waiters.arm(PRODUCT, ['node']);
    await store.submit(newJob({ product: PRODUCT, requiredCapabilities: ['node'] }));
    expect(await timed(waiter.wait(10_000, new AbortController().signal))).toBeLessThan(5_000);
  });

  it('wakes a waiter when a requeued job becomes due by the clock, with no signal', async () => {
    const { job } = await store.submit(newJob({ product: PRODUCT }));
    const claim = await store.claim({ product: PRODUCT, factoryId: 'f1', capabilities: [], leaseTtlMs: 60_000 });
    expect(claim?.job.id).toBe(job.id);
    await store.report(
      {
        product: PRODUCT,
        jobId: job.id,
        factoryId: 'f1',
        leaseEpoch: 1,
        stage: 'failed',
        error: { message: 'flaky', retryable: true },
      },
      { backoffMs: () => 60_000 },
    );
    const waiter = waiters.arm(PRODUCT, []);
    // Not due yet: the claim a parked factory would make finds nothing.
    expect(await store.claim({ product: PRODUCT, factoryId: 'f2', capabilities: [], leaseTtlMs: 60_000 })).toBe(
      undefined,
    );
    const waiting = timed(waiter.wait(20_000, new AbortController().signal));
    clock.advance(61_000);
    expect(await waiting).toBeLessThan(10_000);
    expect(
      (await store.claim({ product: PRODUCT, factoryId: 'f2', capabilities: [], leaseTtlMs: 60_000 }))?.job.id,
    ).toBe(job.id);
  });

  it('leaves a waiter parked until its deadline while no queued job suits it, and wakes it for one that does', async () => {
    await store.submit(newJob({ product: PRODUCT, requiredCapabilities: ['gpu'] }));
    const idle = waiters.arm(PRODUCT, ['node']);
    // Several re-check intervals pass: none wakes it, since the only job needs a gpu.
    expect(await timed(idle.wait(2_500, new AbortController().signal))).toBeGreaterThanOrEqual(2_400);

    const waiter = waiters.arm(PRODUCT, ['node']);
    const waiting = timed(waiter.wait(20_000, new AbortController().signal));
    await store.submit(newJob({ product: PRODUCT, requiredCapabilities: ['node'] }));
    expect(await waiting).toBeLessThan(10_000);
  });

  it('wakes only as many waiters as there are jobs they could take', async () => {
    const abort = new AbortController();
    const armed = [waiters.arm(PRODUCT, []), waiters.arm(PRODUCT, []), waiters.arm(PRODUCT, [])];
    let woken = 0;
    // Each woken waiter claims, as the claim route does.
    const waits = armed.map((w, i) =>
      w.wait(3_000, abort.signal).then(async () => {
        if (abort.signal.aborted) return;
        woken++;
        await store.claim({ product: PRODUCT, factoryId: `f${String(i)}`, capabilities: [], leaseTtlMs: 60_000 });
      }),
    );
    await store.submit(newJob({ product: PRODUCT }));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(woken).toBe(1);
    abort.abort();
    await Promise.all(waits);
  });

  it('wakes a suitable waiter for a submission at once, without the product’s check', async () => {
    const node = waiters.arm(PRODUCT, ['node']);
    const gpu = waiters.arm(PRODUCT, ['gpu']);
    // Let the first check (made when the product's first waiter arrived) end.
    await new Promise((resolve) => setTimeout(resolve, 200));
    let checks = 0;
    const check = store.claimableByCapabilities.bind(store);
    store.claimableByCapabilities = (product) => {
      checks++;
      return check(product);
    };
    const abort = new AbortController();
    let nodeWoken = false;
    void node.wait(5_000, abort.signal).then(() => {
      nodeWoken = !abort.signal.aborted;
    });
    const gpuWaits = gpu.wait(5_000, abort.signal);
    await store.submit(newJob({ product: PRODUCT, requiredCapabilities: ['gpu'] }));
    // Woken in the submission's own turn: no query ran between the commit and the wake.
    expect(await timed(gpuWaits)).toBeLessThan(100);
    expect(checks).toBe(0);
    expect(nodeWoken).toBe(false);
    abort.abort();
  });

  it('lets a claim skip its query only while a fresh check found nothing it could take, and never after a commit', async () => {
    await store.submit(newJob({ product: PRODUCT, requiredCapabilities: ['gpu'] }));
    const first = waiters.arm(PRODUCT, ['node']);
    // Before any check the waiters know nothing: claim.
    expect(first.mayClaim()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(first.mayClaim()).toBe(false);
    expect(waiters.arm(PRODUCT, ['node', 'gpu']).mayClaim()).toBe(true);
    await store.submit(newJob({ product: PRODUCT, requiredCapabilities: ['node'] }));
    expect(first.mayClaim()).toBe(true);
  });

  it('resolves every wait when closed', async () => {
    const waiter = waiters.arm(PRODUCT, []);
    const waiting = timed(waiter.wait(20_000, new AbortController().signal));
    waiters.close();
    expect(await waiting).toBeLessThan(1_000);
  });
});
