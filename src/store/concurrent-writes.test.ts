/**
 * Claims and reports made at the same moment, on both backends: SQLite runs them in one group commit,
 * PostgreSQL several in one statement (`postgres/statement-batches.ts`). Each must end exactly as it
 * would have alone, in the order the calls were made.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedError, IllegalTransitionError } from '../core/errors.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS, freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { openStore } from './open-store.js';
import type { RetryPolicy, Store } from './store.js';

const TTL = 30_000;
const policy: RetryPolicy = { backoffMs: () => 1000 };

describe.each(BACKENDS)('concurrent claims and reports on %s', (backend) => {
  const clock = new ManualClock();
  let database: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    database = await freshDatabase(backend);
    store = await openStore(database.url, { clock });
  });
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  /** PostgreSQL: how many transactions wrote the events of `type` on `product`'s jobs (one statement: one). */
  async function transactions(product: string, type: string): Promise<number> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        'select count(distinct tx_id) as n from events where product = $1 and type = $2',
        [product, type],
      );
      return Number(rows[0]?.n);
    } finally {
      await client.end();
    }
  }

  it('claims made together take the jobs one after the other would, each with its own lease and run', async () => {
    const product = 'together';
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await store.submit(newJob({ product, priority: i % 3 }))).job.id);
    const inClaimOrder = [...ids].sort((a, b) => (ids.indexOf(b) % 3) - (ids.indexOf(a) % 3) || (a < b ? -1 : 1));
    const claim = (factoryId: string, maxJobs: number) =>
      store.claimJobs({ product, factoryId, capabilities: [], leaseTtlMs: TTL }, maxJobs);
    const [f1, f2, f3, f4] = await Promise.all([claim('f1', 1), claim('f2', 3), claim('f3', 2), claim('f4', 10)]);
    expect(f1.map((c) => c.job.id)).toEqual(inClaimOrder.slice(0, 1));
    expect(f2.map((c) => c.job.id)).toEqual(inClaimOrder.slice(1, 4));
    expect(f3.map((c) => c.job.id)).toEqual(inClaimOrder.slice(4, 6));
    expect(f4.map((c) => c.job.id)).toEqual(inClaimOrder.slice(6));
    for (const [factoryId, claims] of [
      ['f1', f1],
      ['f2', f2],
      ['f3', f3],
      ['f4', f4],
    ] as const) {
      for (const c of claims) {
        expect(c).toMatchObject({ leaseEpoch: 1, leaseExpiresAt: clock.now() + TTL });
        expect(c.job).toMatchObject({ stage: 'assigned', lease: { factoryId, epoch: 1 } });
        expect(await store.jobRuns(product, c.job.id)).toEqual([
          expect.objectContaining({ epoch: 1, factoryId, endedAt: null }),
        ]);
        const events = await store.jobEvents(product, c.job.id);
        expect(events.map((e) => [e.type, e.payload.factoryId])).toEqual([
          ['job.created', undefined],
          ['job.claimed', factoryId],
        ]);
      }
    }
    if (backend === 'postgres') expect(await transactions(product, 'job.claimed')).toBe(1);
  });

  it('claims with other capabilities made at the same moment each take only what they may', async () => {
    const product = 'together-caps';
    const gpu = (await store.submit(newJob({ product, priority: 9, requiredCapabilities: ['gpu'] }))).job.id;
    const plain = (await store.submit(newJob({ product }))).job.id;
    const [cpuClaims, gpuClaims] = await Promise.all([
      store.claimJobs({ product, factoryId: 'cpu', capabilities: [], leaseTtlMs: TTL }, 5),
      // One job for the gpu factory: it may take the plain job too, and would, were it first with room.
      store.claimJobs({ product, factoryId: 'gpu', capabilities: ['gpu'], leaseTtlMs: TTL }, 1),
    ]);
    expect(cpuClaims.map((c) => c.job.id)).toEqual([plain]);
    expect(gpuClaims.map((c) => c.job.id)).toEqual([gpu]);
  });

  it('reports made together each meet the outcome they would alone', async () => {
    const product = 'reports';
    for (let i = 0; i < 5; i++) await store.submit(newJob({ product }));
    const claims = await store.claimJobs({ product, factoryId: 'f', capabilities: [], leaseTtlMs: TTL }, 5);
    const [a, b, c, d, e] = claims.map((claim) => ({ product, factoryId: 'f', jobId: claim.job.id, leaseEpoch: 1 }));
    if (a === undefined || b === undefined || c === undefined || d === undefined || e === undefined)
      throw new Error('expected five claims');
    const outcomes = await Promise.allSettled([
      store.report({ ...a, stage: 'building' }, policy),
      store.report({ ...b, stage: 'failed', error: { message: 'no', retryable: false } }, policy),
      store.report({ ...c, leaseEpoch: 2, stage: 'building' }, policy),
      store.report({ ...d, stage: 'shipped' }, policy),
      store.report({ ...e, stage: 'building', checkpoint: { wipBranch: 'wip/e', wipCommit: 'c1' } }, policy),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(FencedError);
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(IllegalTransitionError);
    const stage = async (jobId: string) => (await store.getJob(product, jobId))?.stage;
    expect([await stage(a.jobId), await stage(b.jobId), await stage(c.jobId), await stage(d.jobId)]).toEqual([
      'building',
      'failed',
      'assigned',
      'assigned',
    ]);
    expect(await store.getJob(product, b.jobId)).toMatchObject({ attempts: 1, lease: null });
    expect(await store.jobRuns(product, b.jobId)).toEqual([expect.objectContaining({ outcome: 'failed' })]);
    expect((await store.getJob(product, e.jobId))?.checkpoint).toEqual({ wipBranch: 'wip/e', wipCommit: 'c1' });
    expect((await store.jobEvents(product, e.jobId)).map((ev) => [ev.type, ev.payload])).toEqual([
      ['job.created', expect.anything()],
      ['job.claimed', expect.anything()],
      ['checkpoint.saved', { stage: 'assigned', wipBranch: 'wip/e', wipCommit: 'c1' }],
      ['stage.changed', { from: 'assigned', to: 'building' }],
    ]);
    if (backend === 'postgres') expect(await transactions(product, 'stage.changed')).toBe(1);
  });

  it('two reports of one job made together apply in the order they were made', async () => {
    const product = 'one-job';
    await store.submit(newJob({ product }));
    const [claim] = await store.claimJobs({ product, factoryId: 'f', capabilities: [], leaseTtlMs: TTL }, 1);
    const fence = { product, factoryId: 'f', jobId: claim?.job.id ?? '', leaseEpoch: 1 };
    const [building, testing] = await Promise.all([
      store.report({ ...fence, stage: 'building' }, policy),
      store.report({ ...fence, stage: 'testing' }, policy),
    ]);
    expect([building.stage, testing.stage]).toEqual(['building', 'testing']);
    const moves = (await store.jobEvents(product, fence.jobId)).filter((ev) => ev.type === 'stage.changed');
    expect(moves.map((ev) => ev.payload)).toEqual([
      { from: 'assigned', to: 'building' },
      { from: 'building', to: 'testing' },
    ]);
  });

  it('a report the database refuses fails alone; the reports made with it stand', async () => {
    const product = 'refused';
    for (let i = 0; i < 2; i++) await store.submit(newJob({ product }));
    const claims = await store.claimJobs({ product, factoryId: 'f', capabilities: [], leaseTtlMs: TTL }, 2);
    const [good, bad] = claims.map((claim) => ({ product, factoryId: 'f', jobId: claim.job.id, leaseEpoch: 1 }));
    if (good === undefined || bad === undefined) throw new Error('expected two claims');
    // PostgreSQL's jsonb refuses a NUL character (the HTTP API never lets one through); SQLite stores it.
    const outcomes = await Promise.allSettled([
      store.report({ ...good, stage: 'building' }, policy),
      store.report({ ...bad, stage: 'building', checkpoint: { wipBranch: 'wip/a\u0000b', wipCommit: 'c1' } }, policy),
    ]);
    expect(outcomes[0]).toMatchObject({ status: 'fulfilled', value: { stage: 'building' } });
    expect(outcomes[1].status).toBe(backend === 'postgres' ? 'rejected' : 'fulfilled');
    expect((await store.getJob(product, bad.jobId))?.stage).toBe(backend === 'postgres' ? 'assigned' : 'building');
  });
});
