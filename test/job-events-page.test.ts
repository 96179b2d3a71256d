/** A job's events paged over HTTP on both backends: `limit` after the last `seq` received, and bad pages refused. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BACKENDS } from './helpers/databases.js';

describe.each(BACKENDS)('GET /api/jobs/:id/events paged on %s', (backend) => {
  let tc: TestCoordinator;
  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
  });
  afterAll(() => tc.close());

  it('answers every event by default, or a page after a seq', async () => {
    const job = (
      await tc.call('POST', '/api/jobs', { json: { body: 'many events', repo: 'https://git.example/a.git' } })
    ).body as { id: string };
    const claim = (await tc.call('POST', '/api/fleet/claim', { json: { factoryId: 'f', capabilities: [] } })).body as {
      leaseEpoch: number;
    };
    const events = Array.from({ length: 7 }, (_, i) => ({ type: 'tool.call', payload: { tool: 'read', input: i } }));
    expect(
      (
        await tc.call('POST', `/api/fleet/jobs/${job.id}/events`, {
          json: { factoryId: 'f', leaseEpoch: claim.leaseEpoch, events },
        })
      ).status,
    ).toBe(200);
    const all = (await tc.call('GET', `/api/jobs/${job.id}/events`)).body as { seq: number; type: string }[];
    expect(all.map((e) => e.type)).toEqual(['job.created', 'job.claimed', ...events.map(() => 'tool.call')]);

    const pages: { seq: number }[][] = [];
    let after = 0;
    for (;;) {
      const page = (await tc.call('GET', `/api/jobs/${job.id}/events?limit=4&after=${String(after)}`)).body as {
        seq: number;
      }[];
      if (page.length === 0) break;
      pages.push(page);
      after = page.at(-1)!.seq;
    }
    expect(pages.map((page) => page.length)).toEqual([4, 4, 1]);
    expect(pages.flat()).toEqual(all);

    // Backward, as the dashboard shows the newest first: the last 4, then the 4 before those, …
    const backward: { seq: number }[][] = [];
    let before: number | undefined;
    for (;;) {
      const query = before === undefined ? 'last=4' : `last=4&before=${String(before)}`;
      const page = (await tc.call('GET', `/api/jobs/${job.id}/events?${query}`)).body as { seq: number }[];
      if (page.length === 0) break;
      backward.unshift(page);
      before = page[0]!.seq;
    }
    expect(backward.map((page) => page.length)).toEqual([1, 4, 4]);
    expect(backward.flat()).toEqual(all);
  });

  it('refuses a page size out of range, naming the field', async () => {
    const job = (await tc.call('POST', '/api/jobs', { json: { body: 'x', repo: 'https://git.example/a.git' } }))
      .body as {
      id: string;
    };
    for (const query of ['limit=0', 'limit=5001', 'after=-1', 'limit=ten', 'last=0', 'before=0&last=1']) {
      const res = await tc.call('GET', `/api/jobs/${job.id}/events?${query}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(query.split('=')[0]!);
    }
    // Forward and backward do not mix; before needs last.
    const mixed = await tc.call('GET', `/api/jobs/${job.id}/events?last=5&after=2`);
    expect(mixed.status).toBe(400);
    expect(JSON.stringify(mixed.body)).toContain('not both');
    const alone = await tc.call('GET', `/api/jobs/${job.id}/events?before=9`);
    expect(alone.status).toBe(400);
    expect(JSON.stringify(alone.body)).toContain('give last');
  });
});
