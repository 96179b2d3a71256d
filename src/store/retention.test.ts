/**
 * Retention on both backends: finished jobs past an age go with every row that depends on them, old
 * events of finished jobs (or of none) go, in bounded batches; an unfinished job and its events stay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/helpers/databases.js';
import { decompositionFixture } from '../../test/helpers/decomposition.js';
import { newJob } from '../../test/helpers/jobs.js';
import type { GarbageCount, Store } from './store.js';

const DAY = 86_400_000;
const TTL = 30_000;

describe.each(BACKENDS)('retention on %s', (backend) => {
  const fx = decompositionFixture(backend);
  const { clock } = fx;
  let store: Store;
  beforeAll(async () => {
    store = await fx.open();
  });
  afterAll(() => fx.close());

  const submit = async (product: string, title: string) =>
    (await store.submit(newJob({ product, title, requiredCapabilities: ['node'] }))).job;
  const claimNext = (product: string) =>
    store.claim({ product, factoryId: 'f1', capabilities: ['node'], leaseTtlMs: TTL });
  const eventCount = async (jobId: string): Promise<number> =>
    (await store.readEvents({ after: 0, limit: 100_000 })).filter((event) => event.jobId === jobId).length;

  it('removes old finished jobs with their rows, and old events of finished jobs, never an unfinished one', async () => {
    const product = 'gc';
    await store.heartbeat({ product, factoryId: 'f1', capabilities: ['node'], health: 'ok', load: 0 });
    // Day 0: one cancelled while queued, one cancelled under a lease (a run), one claimed and never
    // finished, one queued, and a family (parent and two subtasks) cancelled together.
    const cancelled = await submit(product, 'cancelled');
    await store.cancel(product, cancelled.id, 'not needed');
    const leased = await submit(product, 'leased then cancelled');
    expect((await claimNext(product))?.job.id).toBe(leased.id);
    await store.cancel(product, leased.id, undefined);
    const active = await submit(product, 'active');
    expect((await claimNext(product))?.job.id).toBe(active.id);
    const queued = await submit(product, 'queued');
    const family = await fx.decomposed([
      { title: 'one', body: 'first' },
      { title: 'two', body: 'second' },
    ]);
    await store.cancel(family.product, family.parent.id, 'dropped');
    // Day 50: finished, young for the jobs' age but old for the events'.
    clock.advance(50 * DAY);
    const middle = await submit(product, 'middle');
    await store.cancel(product, middle.id, undefined);
    // Day 80: finished recently.
    clock.advance(30 * DAY);
    const recent = await submit(product, 'recent');
    await store.cancel(product, recent.id, undefined);
    clock.advance(20 * DAY);
    const activeEvents = await eventCount(active.id);
    expect(activeEvents).toBeGreaterThanOrEqual(2);

    const request = { jobsBefore: clock.now() - 90 * DAY, eventsBefore: clock.now() - 30 * DAY };
    const counted = await store.collectGarbage({ ...request, dryRun: true });
    const progress: GarbageCount[] = [];
    const removed = await store.collectGarbage({ ...request, batchRows: 5, onProgress: (p) => progress.push(p) });

    // cancelled, leased, the family's three: gone with their events and the leased one's run.
    expect(removed).toMatchObject({ jobs: 5, runs: 2 });
    for (const job of [cancelled, leased]) expect(await store.getJob(product, job.id)).toBeUndefined();
    for (const job of [family.parent, ...family.children])
      expect(await store.getJob(family.product, job.id)).toBeUndefined();
    expect(await eventCount(cancelled.id)).toBe(0);
    // The unfinished ones keep every event, however old.
    expect((await store.getJob(product, active.id))?.stage).toBe('assigned');
    expect(await eventCount(active.id)).toBe(activeEvents);
    expect((await store.getJob(product, queued.id))?.stage).toBe('queued');
    expect(await eventCount(queued.id)).toBe(1);
    // Finished at day 50: the job stays, its events (older than 30 days) go; day 80: all stays.
    expect((await store.getJob(product, middle.id))?.stage).toBe('cancelled');
    expect(await eventCount(middle.id)).toBe(0);
    expect(await eventCount(recent.id)).toBe(2);
    // The factory's join (no job) was old.
    const left = await store.readEvents({ after: 0, limit: 1000 });
    expect(left.filter((event) => event.jobId === null)).toEqual([]);

    // Bounded: batches of at most 5 rows (a job batch holds one job per 5 rows), progress after each.
    expect(removed.batches).toBeGreaterThan(3);
    expect(progress).toHaveLength(removed.batches);
    expect(progress.at(-1)).toEqual(removed);
    // The dry run counted what the run removed.
    expect(counted).toMatchObject({ jobs: removed.jobs, runs: removed.runs, events: removed.events });
    expect(
      (await store.readEvents({ after: 0, limit: 1000 })).map((e) => e.jobId).filter((id) => id !== null).length,
    ).toBe(left.length);

    // A second pass finds nothing more.
    expect(await store.collectGarbage({ ...request })).toMatchObject({ jobs: 0, runs: 0, events: 0 });
  });

  it('leaves a finished subtask whose parent is not finished, and the unfinished ones’ events', async () => {
    const family = await fx.decomposed([
      { title: 'one', body: 'first' },
      { title: 'two', body: 'second' },
    ]);
    await store.cancel(family.product, family.children[0]!.id, undefined);
    clock.advance(100 * DAY);
    await store.collectGarbage({ jobsBefore: clock.now() - DAY, eventsBefore: clock.now() - DAY });
    for (const job of [family.parent, ...family.children])
      expect(await store.getJob(family.product, job.id)).toBeDefined();
    expect((await store.getJob(family.product, family.children[0]!.id))?.stage).toBe('cancelled');
    // The subtask is finished: its old events go, the job stays for its unfinished parent.
    expect(await eventCount(family.children[0]!.id)).toBe(0);
    expect(await eventCount(family.parent.id)).toBeGreaterThan(0);
    expect(await eventCount(family.children[1]!.id)).toBeGreaterThan(0);
  });

  it('lets a reader whose cursor event was removed go on with the events after it', async () => {
    const product = 'gc-cursor';
    const old = await submit(product, 'old');
    await store.cancel(product, old.id, undefined);
    // A reader (an SSE client, the forges' report-back) has read up to the old job's last event.
    const cursor = (await store.readEvents({ after: 0, product, limit: 1000 })).at(-1)!.seq;
    clock.advance(100 * DAY);
    const young = await submit(product, 'young');
    await store.collectGarbage({ jobsBefore: clock.now() - DAY, eventsBefore: clock.now() - DAY });
    expect(await store.getJob(product, old.id)).toBeUndefined();
    const after = await store.readEvents({ after: cursor, product, limit: 1000 });
    expect(after.map((e) => e.jobId)).toContain(young.id);
    expect(after.some((e) => e.jobId === old.id)).toBe(false);
  });
});
