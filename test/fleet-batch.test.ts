/**
 * Batch claim and batched event upload over real HTTP on both backends: a factory with N free slots
 * claims up to N jobs in one call (`POST /api/fleet/claims`), each with its own lease and epoch; the
 * single claim keeps its answer; the events of several runs go up in one call, each upload fenced on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import type { ClaimBatch } from '../src/protocol/fleet.js';

const jobIds = (answer: unknown): string[] => (answer as ClaimBatch).claims.map((c) => c.job.id);

describe.each(BACKENDS)('batched fleet calls on %s', (backend) => {
  let tc: TestCoordinator;
  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
  });
  afterAll(async () => {
    await tc.close();
  });

  const submit = async (product: string, priority = 0): Promise<string> => {
    const res = await tc.call('POST', '/api/jobs', {
      json: { title: 'task', body: 'Do the thing.', repo: 'https://git.example/app.git', priority },
      headers: { 'x-product-id': product },
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const fleet = (product: string, method: string, path: string, json?: object) =>
    tc.call(method, path, { token: tc.tokens.factory, json, headers: { 'x-product-id': product } });

  it('claims up to maxJobs jobs in claim order, each with its own lease, epoch and run', async () => {
    const p = 'batch-claim';
    const low = await submit(p, 0);
    const high = await submit(p, 5);
    const mid = await submit(p, 2);
    const later = await submit(p, 0);
    const first = await fleet(p, 'POST', '/api/fleet/claims', { factoryId: 'f1', capabilities: [], maxJobs: 3 });
    expect(first.status).toBe(200);
    const claims = first.body.claims as { job: { id: string; stage: string }; leaseEpoch: number }[];
    expect(claims.map((c) => c.job.id)).toEqual([high, mid, low]);
    expect(claims.map((c) => [c.job.stage, c.leaseEpoch])).toEqual([
      ['assigned', 1],
      ['assigned', 1],
      ['assigned', 1],
    ]);
    for (const c of claims) {
      const runs = await fleet(p, 'GET', `/api/fleet/jobs/${c.job.id}/runs`);
      expect(runs.body).toEqual([expect.objectContaining({ epoch: 1, factoryId: 'f1', outcome: null })]);
    }
    // Each lease is its own: reporting on one leaves the others assigned.
    const built = await fleet(p, 'PATCH', `/api/fleet/jobs/${high}`, {
      factoryId: 'f1',
      stage: 'building',
      leaseEpoch: 1,
    });
    expect(built.body.stage).toBe('building');
    expect((await fleet(p, 'GET', `/api/fleet/jobs/${mid}`)).body.stage).toBe('assigned');
    // Fewer left than asked for: what there is; then 204.
    const rest = await fleet(p, 'POST', '/api/fleet/claims', { factoryId: 'f2', capabilities: [], maxJobs: 10 });
    expect(jobIds(rest.body)).toEqual([later]);
    const none = await fleet(p, 'POST', '/api/fleet/claims', { factoryId: 'f2', capabilities: [], maxJobs: 10 });
    expect(none.status).toBe(204);
  });

  it('keeps the answer of the single claim, and wakes a parked batch claim', async () => {
    const p = 'single-claim';
    const id = await submit(p);
    const single = await fleet(p, 'POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
    expect(single.status).toBe(200);
    expect(single.body).toMatchObject({ job: { id }, leaseEpoch: 1 });
    expect(single.body.claims).toBeUndefined();
    const parked = fleet(p, 'POST', '/api/fleet/claims', {
      factoryId: 'f1',
      capabilities: [],
      maxJobs: 4,
      waitMs: 5000,
    });
    await new Promise((r) => setTimeout(r, 100));
    const woken = await submit(p);
    const answer = await parked;
    expect(answer.status).toBe(200);
    expect(jobIds(answer.body)).toEqual([woken]);
  });

  it('records the events of several runs in one upload, a stale or foreign one refused alone', async () => {
    const p = 'batch-events';
    await submit(p);
    await submit(p);
    await submit(p);
    const claimed = await fleet(p, 'POST', '/api/fleet/claims', { factoryId: 'f1', capabilities: [], maxJobs: 2 });
    const [a, b] = claimed.body.claims as { job: { id: string }; leaseEpoch: number }[];
    const other = await fleet(p, 'POST', '/api/fleet/claim', { factoryId: 'f2', capabilities: [] });
    const mark = (n: number) => [{ type: 'test.mark', payload: { n } }];
    const upload = await fleet(p, 'POST', '/api/fleet/events', {
      factoryId: 'f1',
      uploads: [
        { jobId: a!.job.id, leaseEpoch: a!.leaseEpoch, events: mark(1) },
        { jobId: b!.job.id, leaseEpoch: b!.leaseEpoch + 1, events: mark(2) },
        { jobId: other.body.job.id, leaseEpoch: other.body.leaseEpoch, events: mark(3) },
        { jobId: b!.job.id, leaseEpoch: b!.leaseEpoch, events: [...mark(4), ...mark(5)] },
        { jobId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', leaseEpoch: 1, events: mark(6) },
      ],
    });
    expect(upload.status).toBe(200);
    expect(upload.body.outcomes).toEqual([
      { jobId: a!.job.id, leaseEpoch: 1, recorded: 1 },
      expect.objectContaining({
        jobId: b!.job.id,
        leaseEpoch: 2,
        status: 409,
        error: expect.objectContaining({ code: 'stale_epoch', currentEpoch: 1 }),
      }),
      expect.objectContaining({ jobId: other.body.job.id, status: 409 }),
      { jobId: b!.job.id, leaseEpoch: 1, recorded: 2 },
      expect.objectContaining({ status: 404, error: expect.objectContaining({ code: 'not_found' }) }),
    ]);
    const types = async (id: string) =>
      ((await fleet(p, 'GET', `/api/fleet/jobs/${id}/events`)).body as { type: string; payload: { n?: number } }[])
        .filter((e) => e.type === 'test.mark' || e.type === 'fence.rejected')
        .map((e) => (e.type === 'test.mark' ? e.payload.n : e.type));
    expect(await types(a!.job.id)).toEqual([1]);
    // The refusal is recorded after the uploads it was sent with: in any order with the accepted ones.
    const bTypes = await types(b!.job.id);
    expect(bTypes.filter((t) => t !== 'fence.rejected')).toEqual([4, 5]);
    expect(bTypes.filter((t) => t === 'fence.rejected')).toHaveLength(1);
    expect(await types(other.body.job.id)).toEqual(['fence.rejected']);
  });

  it('refuses an empty upload and a claim of more than 100 jobs', async () => {
    const p = 'batch-bad';
    const empty = await fleet(p, 'POST', '/api/fleet/events', { factoryId: 'f1', uploads: [] });
    expect(empty.status).toBe(400);
    const tooMany = await fleet(p, 'POST', '/api/fleet/claims', { factoryId: 'f1', capabilities: [], maxJobs: 101 });
    expect(tooMany.status).toBe(400);
  });
});
