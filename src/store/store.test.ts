/** Conformance: every test runs against SQLite and PostgreSQL, on real databases. */
import { beforeAll, describe, expect, it } from 'vitest';
import { FencedError, IdempotencyConflictError, IllegalTransitionError, NotFoundError } from '../core/errors.js';
import { ACTIVE_STAGES, allowedTargets, STAGES, type Stage } from '../core/stages.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { RetryPolicy, Store } from './store.js';

const policy: RetryPolicy = { backoffMs: (attempts) => attempts * 1000 };
const TTL = 30_000;

describe.each(BACKENDS)('store on %s', (backend) => {
  const clock = new ManualClock();
  const opened = storePerFile(backend, clock);
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  let products = 0;
  /** Each test gets its own product, so jobs left by one test never reach another's claims. */
  async function claimed(product = `p${String(++products)}`) {
    const { job } = await store.submit(newJob({ product }));
    const claim = await store.claim({ product, factoryId: 'f1', capabilities: [], leaseTtlMs: TTL });
    expect(claim?.job.id).toBe(job.id);
    return claim!;
  }

  it('submits, reads back and honours the idempotency key', async () => {
    const first = await store.submit(newJob({ product: 'idem', idempotencyKey: 'k1', title: 'A' }));
    const again = await store.submit(newJob({ product: 'idem', idempotencyKey: 'k1', title: 'A' }));
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.job.id).toBe(first.job.id);
    // The same key with a different submission is a conflict naming the job, not the first job again.
    const other = await store
      .submit(newJob({ product: 'idem', idempotencyKey: 'k1', title: 'B' }))
      .catch((e: unknown) => e);
    expect(other).toBeInstanceOf(IdempotencyConflictError);
    expect(other).toMatchObject({ code: 'idempotency_conflict', key: 'k1', jobId: first.job.id });
    expect(await store.listJobs({ product: 'idem', limit: 10 })).toHaveLength(1);
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, () => store.submit(newJob({ product: 'idem', idempotencyKey: 'k2' }))),
    );
    expect(new Set(concurrent.map((r) => r.job.id)).size).toBe(1);
    expect(concurrent.filter((r) => r.created)).toHaveLength(1);
    expect(await store.getJob('idem', first.job.id)).toMatchObject({ stage: 'queued', leaseEpoch: 0 });
    expect(await store.getJob('other', first.job.id)).toBeUndefined();
    const events = await store.jobEvents('idem', first.job.id);
    expect(events.map((e) => e.type)).toEqual(['job.created']);
  });

  it('claims by priority, then age, matching capabilities and skipping jobs not yet due', async () => {
    const p = 'claims';
    const low = await store.submit(newJob({ product: p, priority: 0 }));
    const high = await store.submit(newJob({ product: p, priority: 5 }));
    const gpu = await store.submit(newJob({ product: p, priority: 9, requiredCapabilities: ['gpu', 'node'] }));
    const claim = (caps: string[]) => store.claim({ product: p, factoryId: 'f', capabilities: caps, leaseTtlMs: TTL });
    expect((await claim(['node']))?.job.id).toBe(high.job.id);
    expect((await claim(['node', 'gpu', 'git']))?.job.id).toBe(gpu.job.id);
    const last = await claim([]);
    expect(last?.job.id).toBe(low.job.id);
    expect(last).toMatchObject({ leaseEpoch: 1, leaseExpiresAt: clock.now() + TTL });
    expect(last?.job).toMatchObject({ stage: 'assigned', lease: { factoryId: 'f', epoch: 1 } });
    expect(await claim(['node', 'gpu'])).toBeUndefined();
    const runs = await store.jobRuns(p, low.job.id);
    expect(runs).toEqual([expect.objectContaining({ epoch: 1, factoryId: 'f', endedAt: null })]);
  });

  it('walks a job to shipped, recording each stage, the checkpoint and the result', async () => {
    const { job, leaseEpoch } = await claimed();
    for (const stage of ['building', 'review', 'building', 'review', 'testing'] as const) {
      await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage }, policy);
    }
    const checkpoint = { wipBranch: `conveyor/${job.id}`, wipCommit: 'abc1234' };
    await store.report(
      { jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'testing', checkpoint },
      policy,
    );
    const shipped = await store.report(
      {
        jobId: job.id,
        product: job.product,
        factoryId: 'f1',
        leaseEpoch,
        stage: 'shipped',
        result: { commit: 'abc1234' },
      },
      policy,
    );
    expect(shipped).toMatchObject({ stage: 'shipped', lease: null, checkpoint, result: { commit: 'abc1234' } });
    const events = await store.jobEvents(job.product, job.id);
    expect(events.map((e) => e.type)).toEqual([
      'job.created',
      'job.claimed',
      ...Array<string>(5).fill('stage.changed'),
      'checkpoint.saved',
      'stage.changed',
    ]);
    expect(events.at(-1)).toMatchObject({ epoch: leaseEpoch, payload: { from: 'testing', to: 'shipped' } });
    const runs = await store.jobRuns(job.product, job.id);
    expect(runs[0]).toMatchObject({ outcome: 'shipped', endedAt: clock.now() });
  });

  it('refuses every illegal factory transition with 422 and leaves the job unchanged', async () => {
    const paths: Record<string, Stage[]> = {
      assigned: [],
      building: ['building'],
      review: ['building', 'review'],
      testing: ['building', 'testing'],
    };
    for (const from of ACTIVE_STAGES) {
      const illegal = STAGES.filter((to) => to !== from && !allowedTargets(from, 'factory').includes(to));
      expect(illegal.length).toBeGreaterThan(0);
      for (const to of illegal) {
        const { job, leaseEpoch } = await claimed();
        for (const stage of paths[from] ?? []) {
          await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage }, policy);
        }
        const before = await store.getJob(job.product, job.id);
        const eventsBefore = await store.jobEvents(job.product, job.id);
        const attempt = store.report(
          { jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: to },
          policy,
        );
        await expect(attempt).rejects.toBeInstanceOf(IllegalTransitionError);
        await expect(attempt).rejects.toThrow(`cannot move from ${from} to ${to}`);
        expect(await store.getJob(job.product, job.id)).toEqual(before);
        expect(await store.jobEvents(job.product, job.id)).toEqual(eventsBefore);
      }
    }
  });

  it('refuses a report of a stage a factory never reports, even the current one', async () => {
    const { job, leaseEpoch } = await claimed();
    const attempt = store.report(
      { jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'assigned' },
      policy,
    );
    await expect(attempt).rejects.toThrow(
      'cannot move from assigned to assigned; allowed from assigned: building, blocked, failed',
    );
  });

  it('refuses illegal human actions with 422', async () => {
    const { job, leaseEpoch } = await claimed();
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'building' }, policy);
    await expect(store.unblock(job.product, job.id, 'yes')).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(store.retry(job.product, job.id)).rejects.toBeInstanceOf(IllegalTransitionError);
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'testing' }, policy);
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'shipped' }, policy);
    await expect(store.cancel(job.product, job.id, undefined)).rejects.toThrow('allowed from shipped: none');
    await expect(store.cancel(job.product, 'nope', undefined)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fences stale epochs on report, renew and release, changing nothing', async () => {
    const { job, leaseEpoch } = await claimed();
    const before = await store.getJob(job.product, job.id);
    const stale = leaseEpoch - 1;
    const calls = [
      () =>
        store.report(
          { jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch: stale, stage: 'building' },
          policy,
        ),
      () => store.renew({ product: job.product, jobId: job.id, factoryId: 'f1', leaseEpoch: stale }, TTL),
      () => store.release({ product: job.product, jobId: job.id, factoryId: 'f1', leaseEpoch: stale }),
      () =>
        store.report(
          { jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch: leaseEpoch + 1, stage: 'building' },
          policy,
        ),
    ];
    for (const call of calls) {
      const error: unknown = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FencedError);
      expect((error as FencedError).currentEpoch).toBe(leaseEpoch);
    }
    expect(await store.getJob(job.product, job.id)).toEqual(before);
    const fences = (await store.jobEvents(job.product, job.id)).filter((e) => e.type === 'fence.rejected');
    expect(fences).toHaveLength(4);
  });

  it('refuses the right epoch from a factory that does not hold the lease, changing nothing', async () => {
    const { job, leaseEpoch } = await claimed();
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'building' }, policy);
    const before = await store.getJob(job.product, job.id);
    const other = { jobId: job.id, product: job.product, factoryId: 'f2', leaseEpoch };
    const calls = [
      () => store.report({ ...other, stage: 'failed', error: { message: 'sabotage', retryable: false } }, policy),
      () => store.report({ ...other, stage: 'review' }, policy),
      () => store.renew(other, TTL),
      () => store.release(other),
      () => store.recordEvents(other, [{ type: 'agent.message', payload: { text: 'not mine' } }]),
      () => store.decompose({ ...other, subtasks: [{ title: 'x', body: 'y' }] }),
      () => store.quarantine({ ...other, epoch: leaseEpoch, reason: 'not mine', result: {} }),
    ];
    for (const call of calls) {
      const error: unknown = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FencedError);
      expect(error).toMatchObject({ currentEpoch: leaseEpoch, factories: { writer: 'f2', holder: 'f1' } });
    }
    expect(await store.getJob(job.product, job.id)).toEqual(before);
    expect(await store.listChildren(job.product, job.id)).toEqual([]);
    expect(await store.listQuarantined(job.product, job.id)).toEqual([]);
    const events = await store.jobEvents(job.product, job.id);
    const fences = events.filter((e) => e.type === 'fence.rejected');
    expect(fences).toHaveLength(calls.length);
    expect(fences[0]?.payload).toMatchObject({ factoryId: 'f2', holderFactoryId: 'f1', currentEpoch: leaseEpoch });
    expect(events.filter((e) => e.type === 'agent.message' || e.type === 'lease.renewed')).toEqual([]);
    // The holder is unharmed.
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'testing' }, policy);
    const shipped = await store.report(
      { jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'shipped' },
      policy,
    );
    expect(shipped.stage).toBe('shipped');
  });

  it('expires a lease: requeues with backoff and epoch + 1, refuses the old holder, dead-letters at max attempts', async () => {
    const { job: submitted } = await store.submit(newJob({ product: 'expiry', maxAttempts: 2 }));
    const first = await store.claim({ product: 'expiry', factoryId: 'a', capabilities: [], leaseTtlMs: TTL });
    expect(first?.job.id).toBe(submitted.id);
    const epoch1 = first!.leaseEpoch;
    clock.advance(TTL - 1);
    await store.renew({ product: 'expiry', jobId: submitted.id, factoryId: 'a', leaseEpoch: epoch1 }, TTL);
    clock.advance(TTL - 1);
    expect((await store.expireLeases(policy)).filter((e) => e.product === 'expiry')).toEqual([]);
    clock.advance(2);
    const expired = (await store.expireLeases(policy)).filter((e) => e.product === 'expiry');
    expect(expired).toEqual([expect.objectContaining({ jobId: submitted.id, epoch: epoch1, factoryId: 'a' })]);
    const requeued = await store.getJob('expiry', submitted.id);
    expect(requeued).toMatchObject({ stage: 'queued', attempts: 1, leaseEpoch: epoch1 + 1, lease: null });
    expect(requeued!.runAfter).toBe(clock.now() + 1000);
    await expect(
      store.report(
        { jobId: submitted.id, product: 'expiry', factoryId: 'a', leaseEpoch: epoch1, stage: 'building' },
        policy,
      ),
    ).rejects.toBeInstanceOf(FencedError);
    expect(await store.claim({ product: 'expiry', factoryId: 'b', capabilities: [], leaseTtlMs: TTL })).toBeUndefined();
    clock.advance(1000);
    const second = await store.claim({ product: 'expiry', factoryId: 'b', capabilities: [], leaseTtlMs: TTL });
    expect(second?.leaseEpoch).toBeGreaterThan(epoch1);
    clock.advance(TTL + 1);
    await store.expireLeases(policy);
    expect(await store.getJob('expiry', submitted.id)).toMatchObject({ stage: 'dead_letter', attempts: 2 });
    const runs = await store.jobRuns('expiry', submitted.id);
    expect(runs.map((r) => r.outcome)).toEqual(['expired', 'expired']);
  });

  it('never lets the reaper overwrite a job completed a moment earlier', async () => {
    const { job, leaseEpoch } = await claimed();
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'building' }, policy);
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'testing' }, policy);
    await store.report({ jobId: job.id, product: job.product, factoryId: 'f1', leaseEpoch, stage: 'shipped' }, policy);
    clock.advance(TTL * 2);
    await store.expireLeases(policy);
    expect(await store.getJob(job.product, job.id)).toMatchObject({ stage: 'shipped', leaseEpoch });
  });

  it('requeues a retryable failure after backoff and keeps a non-retryable one failed', async () => {
    const a = await claimed();
    const failed = await store.report(
      {
        jobId: a.job.id,
        product: a.job.product,
        factoryId: 'f1',
        leaseEpoch: a.leaseEpoch,
        stage: 'failed',
        error: { message: 'verify failed' },
      },
      policy,
    );
    expect(failed).toMatchObject({ stage: 'queued', attempts: 1, error: { message: 'verify failed' } });
    const types = (await store.jobEvents(a.job.product, a.job.id)).map((e) => `${e.type}:${String(e.payload.to)}`);
    expect(types.slice(-2)).toEqual(['stage.changed:failed', 'job.retry_scheduled:queued']);
    const b = await claimed();
    const final = await store.report(
      {
        jobId: b.job.id,
        product: b.job.product,
        factoryId: 'f1',
        leaseEpoch: b.leaseEpoch,
        stage: 'failed',
        error: { message: 'no', retryable: false },
      },
      policy,
    );
    expect(final).toMatchObject({
      stage: 'failed',
      attempts: 1,
      lease: null,
      error: { message: 'no', retryable: false },
    });
    const last = (await store.jobEvents(b.job.product, b.job.id)).at(-1);
    expect(last).toMatchObject({
      type: 'stage.changed',
      payload: { from: 'assigned', to: 'failed', error: { message: 'no' } },
    });
    expect((await store.jobRuns(b.job.product, b.job.id))[0]?.outcome).toBe('failed');
    const retried = await store.retry(b.job.product, b.job.id);
    expect(retried).toMatchObject({ stage: 'queued', attempts: 0, error: null, leaseEpoch: b.leaseEpoch + 1 });
  });

  it('blocks with a question and unblocks with the answer', async () => {
    const { job, leaseEpoch } = await claimed();
    await store.report(
      {
        jobId: job.id,
        product: job.product,
        factoryId: 'f1',
        leaseEpoch,
        stage: 'blocked',
        error: { code: 'needs_clarification', message: 'Which file?' },
      },
      policy,
    );
    const unblocked = await store.unblock(job.product, job.id, 'src/a.ts');
    expect(unblocked).toMatchObject({ stage: 'queued', error: null });
    expect(unblocked.clarifications).toEqual([
      { question: 'Which file?', answer: 'src/a.ts', answeredAt: clock.now() },
    ]);
  });

  it('cancels a running job, ending its run and fencing the holder', async () => {
    const { job, leaseEpoch } = await claimed();
    const cancelled = await store.cancel(job.product, job.id, 'not needed');
    expect(cancelled).toMatchObject({ stage: 'cancelled', lease: null });
    await expect(
      store.renew({ product: job.product, jobId: job.id, factoryId: 'f1', leaseEpoch: leaseEpoch }, TTL),
    ).rejects.toBeInstanceOf(FencedError);
    expect((await store.jobRuns(job.product, job.id))[0]?.outcome).toBe('cancelled');
  });

  it('releases a lease back to the queue without counting an attempt', async () => {
    const { job, leaseEpoch } = await claimed();
    const released = await store.release({
      product: job.product,
      jobId: job.id,
      factoryId: 'f1',
      leaseEpoch: leaseEpoch,
    });
    expect(released).toMatchObject({ stage: 'queued', attempts: 0, lease: null });
  });

  it('enforces one terminal event per run in the schema', async () => {
    const { job, leaseEpoch } = await claimed();
    await store.cancel(job.product, job.id, undefined);
    const { SqlStore } = await import('./sql-store.js');
    expect(store).toBeInstanceOf(SqlStore);
    const db = (store as unknown as { db: import('kysely').Kysely<import('./schema.js').Database> }).db;
    const row = {
      at: 0,
      product: job.product,
      job_id: job.id,
      epoch: leaseEpoch,
      type: 'x',
      actor: 'coordinator',
      payload: '{}',
    };
    await expect(
      db
        .insertInto('events')
        .values({ ...row, ends_run: 1 })
        .execute(),
    ).rejects.toThrow(/unique/i);
    await expect(
      db
        .insertInto('events')
        .values({ ...row, ends_job: 1 })
        .execute(),
    ).rejects.toThrow(/unique/i);
  });

  it('registers factories, marks silent ones lost and drains them', async () => {
    const first = await store.heartbeat({
      product: 'fleet',
      factoryId: 'fx',
      capabilities: ['node'],
      health: 'ok',
      load: 0,
    });
    expect(first.joined).toBe(true);
    expect(
      (await store.heartbeat({ product: 'fleet', factoryId: 'fx', capabilities: ['node'], health: 'ok', load: 1 }))
        .joined,
    ).toBe(false);
    await expect(
      store.heartbeat({ product: 'else', factoryId: 'fx', capabilities: [], health: 'ok', load: 0 }),
    ).rejects.toThrow('another product');
    clock.advance(31_000);
    expect((await store.markLostFactories(30_000)).map((f) => f.id)).toContain('fx');
    expect(
      (await store.heartbeat({ product: 'fleet', factoryId: 'fx', capabilities: ['node'], health: 'ok', load: 0 }))
        .joined,
    ).toBe(true);
    expect(await store.setDrain('fleet', 'fx', true)).toMatchObject({ drain: true });
    expect(await store.listFactories('fleet')).toEqual([
      expect.objectContaining({ id: 'fx', drain: true, lost: false, load: 0 }),
    ]);
    await expect(store.setDrain('other', 'fx', true)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps a factory that said it stopped as stopped (never lost), and expires the long gone from the list', async () => {
    const p = 'fleet-stops';
    const beat = (factoryId: string, health: 'ok' | 'stopped') =>
      store.heartbeat({ product: p, factoryId, capabilities: ['node'], health, load: 0 });
    await beat('clean', 'ok');
    await beat('killed', 'ok');
    clock.advance(1000);
    await beat('clean', 'stopped');
    // Said twice (a retried last heartbeat): one event.
    await beat('clean', 'stopped');
    clock.advance(31_000);
    const lost = (await store.markLostFactories(30_000)).filter((f) => f.product === p);
    expect(lost.map((f) => f.id)).toEqual(['killed']);
    expect(await store.listFactories(p)).toEqual([
      expect.objectContaining({ id: 'clean', health: 'stopped', lost: false }),
      expect.objectContaining({ id: 'killed', health: 'ok', lost: true }),
    ]);
    // Gone for long: both leave the list; a third, still beating, stays.
    await beat('alive', 'ok');
    clock.advance(60_000);
    await beat('alive', 'ok');
    const expired = (await store.expireFactories(90_000)).filter((f) => f.product === p);
    expect(expired.map((f) => f.id).sort()).toEqual(['clean', 'killed']);
    expect((await store.listFactories(p)).map((f) => f.id)).toEqual(['alive']);
    // The same id started again joins again.
    expect((await beat('clean', 'ok')).joined).toBe(true);
    const events = (await store.readEvents({ product: p, after: 0, limit: 100 })).map((e) => [
      e.type,
      e.payload.factoryId,
    ]);
    expect(events).toEqual([
      ['factory.joined', 'clean'],
      ['factory.joined', 'killed'],
      ['factory.stopped', 'clean'],
      ['factory.lost', 'killed'],
      ['factory.joined', 'alive'],
      ['factory.expired', 'clean'],
      ['factory.expired', 'killed'],
      ['factory.joined', 'clean'],
    ]);
  });

  it('lists jobs by stage and text with cursor pagination', async () => {
    const p = 'listing';
    for (let i = 0; i < 5; i++) await store.submit(newJob({ product: p, title: `Task ${i} 100%_done` }));
    await store.submit(newJob({ product: p, title: 'Other', body: 'mentions PARSER' }));
    const page1 = await store.listJobs({ product: p, limit: 4 });
    const page2 = await store.listJobs({ product: p, limit: 4, before: page1.at(-1)!.id });
    expect(page1.length + page2.length).toBe(6);
    expect(new Set([...page1, ...page2].map((j) => j.id)).size).toBe(6);
    expect((await store.listJobs({ product: p, limit: 10, text: 'mentions' })).map((j) => j.title)).toEqual(['Other']);
    expect(await store.listJobs({ product: p, limit: 10, text: '0%_' })).toHaveLength(5);
    expect(await store.listJobs({ product: p, limit: 10, text: '1%x' })).toHaveLength(0);
    expect(await store.listJobs({ product: p, limit: 10, stages: ['shipped'] })).toHaveLength(0);
    const counts = await store.countByStage();
    expect(counts).toContainEqual({ product: p, stage: 'queued', count: 6 });
  });

  it('has 16 parallel claimers take 1 000 jobs, each exactly once', async () => {
    const p = 'concurrency';
    for (let i = 0; i < 1000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => store.submit(newJob({ product: p }))));
    }
    const claimedIds: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, n) => {
        for (;;) {
          const claim = await store.claim({ product: p, factoryId: `c${n}`, capabilities: [], leaseTtlMs: TTL });
          if (claim === undefined) return;
          claimedIds.push(claim.job.id);
        }
      }),
    );
    expect(claimedIds).toHaveLength(1000);
    expect(new Set(claimedIds).size).toBe(1000);
  });
});
