/** `[retention]` applied by a running coordinator: finished jobs past the age go on its own, the rest stay. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from './helpers/clock.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';

const DAY = 86_400_000;

describe('retention in a running coordinator', () => {
  const clock = new ManualClock(Date.now());
  let tc: TestCoordinator;
  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', {
      clock,
      reaperIntervalMs: 50,
      retention: { jobsMaxAgeMs: 30 * DAY, eventsMaxAgeMs: undefined, intervalMs: 100 },
    });
  });
  afterAll(() => tc.close());

  it('removes a finished job once it is older than the retention, never an unfinished one', async () => {
    const submit = async (body: string): Promise<string> =>
      (await tc.call('POST', '/api/jobs', { json: { body, repo: 'https://git.example/app.git' } })).body.id as string;
    const finished = await submit('finished');
    expect((await tc.call('POST', `/api/jobs/${finished}/cancel`, { json: {} })).status).toBe(200);
    const queued = await submit('queued');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await tc.call('GET', `/api/jobs/${finished}`)).status).toBe(200);

    clock.advance(31 * DAY);
    const deadline = Date.now() + 5000;
    while ((await tc.call('GET', `/api/jobs/${finished}`)).status !== 404 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await tc.call('GET', `/api/jobs/${finished}`)).status).toBe(404);
    expect((await tc.call('GET', `/api/jobs/${queued}`)).body.stage).toBe('queued');
  });
});
