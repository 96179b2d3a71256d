/**
 * A lease is held by one factory, over real HTTP on both backends: another factory of the same product
 * (same token) that reads the epoch with `GET /api/fleet/jobs/:id` cannot write under it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';

describe.each(BACKENDS)('the lease holder over HTTP on %s', (backend) => {
  let tc: TestCoordinator;

  // Returning the teardown: the coordinator closes after the suite.
  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
    return () => tc.close();
  });

  const product = 'holder';
  const headers = { 'x-product-id': product };
  /** A fleet call with the shared factory token. */
  const fleet = (method: string, path: string, json?: object) =>
    tc.call(method, path, { token: tc.tokens.factory, headers, ...(json === undefined ? {} : { json }) });

  it('refuses every fenced write from a second factory that read the epoch, leaving the job unharmed', async () => {
    const submitted = await tc.call('POST', '/api/jobs', { json: { body: 'Do the thing.' }, headers });
    const id = submitted.body.id as string;
    const claimed = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
    expect(claimed.body.job.id).toBe(id);
    expect(
      (await fleet('PATCH', `/api/fleet/jobs/${id}`, { factoryId: 'f1', stage: 'building', leaseEpoch: 1 })).status,
    ).toBe(200);

    // The attack: a second factory reads the epoch, then fails the job under it.
    const read = await fleet('GET', `/api/fleet/jobs/${id}`);
    const leaseEpoch = read.body.lease.epoch as number;
    const attack = await fleet('PATCH', `/api/fleet/jobs/${id}`, {
      factoryId: 'f2',
      stage: 'failed',
      leaseEpoch,
      error: { message: 'sabotage', retryable: false },
    });
    expect(attack.status).toBe(409);
    expect(attack.body.error).toMatchObject({ code: 'stale_epoch', currentEpoch: leaseEpoch });
    expect(attack.body.error.message).toContain('held by factory f1');

    const writes: [string, string, object][] = [
      ['POST', `/api/fleet/jobs/${id}/lease/renew`, { leaseEpoch }],
      ['POST', `/api/fleet/jobs/${id}/lease/release`, { leaseEpoch }],
      ['POST', `/api/fleet/jobs/${id}/events`, { leaseEpoch, events: [{ type: 'agent.message', payload: {} }] }],
      ['POST', `/api/fleet/jobs/${id}/subtasks`, { leaseEpoch, subtasks: [{ title: 'x', body: 'y' }] }],
      ['POST', `/api/fleet/jobs/${id}/quarantine`, { leaseEpoch, reason: 'mine now', result: {} }],
    ];
    for (const [method, path, json] of writes) {
      const res = await fleet(method, path, { factoryId: 'f2', ...json });
      expect(res.status, path).toBe(409);
      expect(res.body.error, path).toMatchObject({ code: 'stale_epoch', currentEpoch: leaseEpoch });
    }

    const job = await fleet('GET', `/api/fleet/jobs/${id}`);
    expect(job.body).toMatchObject({ stage: 'building', error: null, lease: { factoryId: 'f1', epoch: leaseEpoch } });
    const events = (await fleet('GET', `/api/fleet/jobs/${id}/events`)).body as {
      type: string;
      payload: Record<string, unknown>;
    }[];
    const fences = events.filter((e) => e.type === 'fence.rejected');
    expect(fences).toHaveLength(1 + writes.length);
    expect(fences[0]?.payload).toMatchObject({ factoryId: 'f2', holderFactoryId: 'f1', currentEpoch: leaseEpoch });
    expect(events.map((e) => e.type)).not.toContain('agent.message');

    // The holder carries on to shipped.
    for (const stage of ['testing', 'shipped']) {
      const res = await fleet('PATCH', `/api/fleet/jobs/${id}`, { factoryId: 'f1', stage, leaseEpoch });
      expect(res.status).toBe(200);
    }
  });

  it('requires the writing factory on every fenced write', async () => {
    const submitted = await tc.call('POST', '/api/jobs', { json: { body: 'Name yourself.' }, headers });
    const id = submitted.body.id as string;
    const { leaseEpoch } = (await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] })).body as {
      leaseEpoch: number;
    };
    const res = await fleet('PATCH', `/api/fleet/jobs/${id}`, { stage: 'building', leaseEpoch });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'body.factoryId' })]);
  });
});
