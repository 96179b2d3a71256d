/**
 * A lease is held by one factory, over real HTTP on both backends: another factory of the same product
 * (same token) that reads the epoch with `GET /api/fleet/jobs/:id` cannot write under it, and a token
 * bound to one factory cannot speak as another.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/coordinator/auth.js';
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
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Do the thing.', repo: 'https://git.example/app.git' },
      headers,
    });
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
      [
        'POST',
        `/api/fleet/jobs/${id}/events`,
        { leaseEpoch, events: [{ type: 'agent.message', payload: { runtime: 'command', text: 'not mine' } }] },
      ],
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
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Name yourself.', repo: 'https://git.example/app.git' },
      headers,
    });
    const id = submitted.body.id as string;
    const { leaseEpoch } = (await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] })).body as {
      leaseEpoch: number;
    };
    const res = await fleet('PATCH', `/api/fleet/jobs/${id}`, { stage: 'building', leaseEpoch });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'body.factoryId' })]);
  });

  it('lets a token bound to one factory heartbeat, claim and write only as that factory', async () => {
    const bound = (await createToken(tc.store, { role: 'factory', product, label: null, factoryId: 'f-bound' })).secret;
    const as = (method: string, path: string, json: object) => tc.call(method, path, { token: bound, headers, json });
    const beat = { capabilities: [], health: 'ok', load: 0 };
    const refused = await as('POST', '/api/fleet/factories/heartbeat', { factoryId: 'f-other', ...beat });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe('this token is bound to factory f-bound, not f-other');
    expect((await as('POST', '/api/fleet/factories/heartbeat', { factoryId: 'f-bound', ...beat })).status).toBe(200);

    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Bound.', repo: 'https://git.example/app.git' },
      headers,
    });
    const id = submitted.body.id as string;
    expect((await as('POST', '/api/fleet/claim', { factoryId: 'f-other', capabilities: [] })).status).toBe(403);
    expect((await fleet('GET', `/api/fleet/jobs/${id}`)).body.stage).toBe('queued');

    // Another factory's lease: the bound token cannot write under it by naming that factory.
    const held = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
    expect(held.body.job.id).toBe(id);
    const leaseEpoch = held.body.leaseEpoch as number;
    const impersonated = await as('PATCH', `/api/fleet/jobs/${id}`, {
      factoryId: 'f1',
      stage: 'failed',
      leaseEpoch,
      error: { message: 'sabotage', retryable: false },
    });
    expect(impersonated.status).toBe(403);
    expect(impersonated.body.error.details).toEqual([expect.objectContaining({ path: 'body.factoryId' })]);
    expect((await fleet('GET', `/api/fleet/jobs/${id}`)).body).toMatchObject({ stage: 'assigned', error: null });
    const renewed = await as('POST', `/api/fleet/jobs/${id}/lease/renew`, { factoryId: 'f1', leaseEpoch });
    expect(renewed.status).toBe(403);

    // As itself it works like any factory token.
    await fleet('POST', `/api/fleet/jobs/${id}/lease/release`, { factoryId: 'f1', leaseEpoch });
    const mine = await as('POST', '/api/fleet/claim', { factoryId: 'f-bound', capabilities: [] });
    expect(mine.body.job.id).toBe(id);
    const report = { factoryId: 'f-bound', stage: 'building', leaseEpoch: mine.body.leaseEpoch as number };
    expect((await as('PATCH', `/api/fleet/jobs/${id}`, report)).status).toBe(200);
  });

  it('binds only factory tokens, to a valid factory id', async () => {
    const bind = (role: 'submit' | 'factory', factoryId: string) =>
      createToken(tc.store, { role, product: null, label: null, factoryId });
    await expect(bind('submit', 'f1')).rejects.toThrow('a submit token cannot be bound to a factory');
    await expect(bind('factory', 'no spaces')).rejects.toThrow('is not a factory id');
    expect((await bind('factory', 'f1')).token).toMatchObject({ role: 'factory', factoryId: 'f1' });
  });
});
