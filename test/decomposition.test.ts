/**
 * Decomposition over real HTTP on both backends: the fenced subtasks call, its validation, the views,
 * and two simulated factories (the fleet API used directly) running the subtasks until the parent ships.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetClient, httpTransport } from '../src/factory/fleet-client.js';
import type { ClaimedJob } from '../src/protocol/fleet.js';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'conveyor.js');
const run = promisify(execFile);

describe.each(BACKENDS)('decomposition over HTTP on %s', (backend) => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
  });
  afterAll(async () => {
    await tc.close();
  });

  const as = (product: string) => ({ 'x-product-id': product });
  const submit = async (product: string, title = 'Add tagging') => {
    const res = await tc.call('POST', '/api/jobs', {
      json: { title, body: 'Tags on bookmarks.', repo: '/repos/bookmarks', base: 'main', verify: ['npm test'] },
      headers: as(product),
    });
    expect(res.status).toBe(201);
    return res.body as { id: string };
  };
  const claim = (product: string, factoryId: string, waitMs = 0) =>
    tc.call('POST', '/api/fleet/claim', {
      token: tc.tokens.factory,
      json: { factoryId, capabilities: [], waitMs },
      headers: as(product),
    });
  /** Fleet writes name the writing factory, as every factory does. */
  const patch = (product: string, id: string, json: object, factoryId = 'f1') =>
    tc.call('PATCH', `/api/fleet/jobs/${id}`, {
      token: tc.tokens.factory,
      json: { factoryId, ...json },
      headers: as(product),
    });
  const subtasks = (product: string, id: string, json: object, factoryId = 'f1') =>
    tc.call('POST', `/api/fleet/jobs/${id}/subtasks`, {
      token: tc.tokens.factory,
      json: { factoryId, ...json },
      headers: as(product),
    });
  /** The JSON a GET answers (its shape is what the test asserts). */
  const get = async (product: string, path: string): Promise<any> =>
    (await tc.call('GET', path, { headers: as(product) })).body;

  /** A submitted job claimed by `factoryId` and reported `building`. */
  const building = async (product: string, factoryId = 'f1') => {
    const job = await submit(product);
    const claimed = await claim(product, factoryId);
    expect(claimed.body.job.id).toBe(job.id);
    const leaseEpoch = claimed.body.leaseEpoch as number;
    expect((await patch(product, job.id, { stage: 'building', leaseEpoch }, factoryId)).status).toBe(200);
    return { id: job.id, leaseEpoch };
  };

  /** Walks a claimed subtask to shipped as its factory would. */
  const shipClaimed = async (product: string, claimed: ClaimedJob, commit: string) => {
    const { job, leaseEpoch } = claimed;
    const holder = job.lease!.factoryId;
    for (const stage of ['building', 'testing']) {
      expect((await patch(product, job.id, { stage, leaseEpoch }, holder)).status).toBe(200);
    }
    const shipped = await patch(product, job.id, { stage: 'shipped', leaseEpoch, result: { commit } }, holder);
    expect(shipped.body.stage).toBe('shipped');
  };

  it('splits a job under its lease: 409 for a stale epoch creating nothing, 201 with the children, 200 when asked again', async () => {
    const p = 'split';
    const { id, leaseEpoch } = await building(p);
    const body = {
      leaseEpoch,
      subtasks: [
        { title: 'Schema', body: 'Add the tags table.' },
        { title: 'API', body: 'Add the tags route.', after: [1] },
      ],
    };
    const stale = await subtasks(p, id, { ...body, leaseEpoch: leaseEpoch - 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'stale_epoch', currentEpoch: leaseEpoch });
    expect((await get(p, `/api/jobs?parent=${id}`)).jobs).toEqual([]);
    expect((await get(p, '/api/jobs')).jobs).toHaveLength(1);

    const created = await subtasks(p, id, body);
    expect(created.status).toBe(201);
    const children = created.body.children as { id: string }[];
    expect(created.body.children).toEqual([
      expect.objectContaining({
        title: 'Schema',
        stage: 'queued',
        parentId: id,
        position: '1/2',
        after: [],
        source: `job:${id}#1/2`,
        repo: '/repos/bookmarks',
        base: 'main',
        verify: ['npm test'],
        pipeline: 'solo',
      }),
      expect.objectContaining({ title: 'API', parentId: id, position: '2/2', after: [1] }),
    ]);
    const again = await subtasks(p, id, body);
    expect(again.status).toBe(200);
    expect((again.body.children as { id: string }[]).map((c) => c.id)).toEqual(children.map((c) => c.id));

    const parent = await get(p, `/api/jobs/${id}`);
    expect(parent).toMatchObject({ stage: 'building', lease: null, parentId: null, position: null });
    expect(parent.children).toEqual([
      { id: children[0]!.id, title: 'Schema', stage: 'queued', position: '1/2' },
      { id: children[1]!.id, title: 'API', stage: 'queued', position: '2/2' },
    ]);
    expect((await get(p, `/api/jobs/${children[0]!.id}`)).children).toEqual([]);
    const listed = (await get(p, `/api/jobs?parent=${id}`)).jobs as { id: string }[];
    expect(listed.map((j) => j.id).sort()).toEqual(children.map((c) => c.id).sort());
    const runs = await get(p, `/api/jobs/${id}/runs`);
    expect(runs).toEqual([expect.objectContaining({ epoch: leaseEpoch, outcome: 'decomposed' })]);
    // The run is over: the old holder's reports and renewals are fenced.
    expect((await patch(p, id, { stage: 'testing', leaseEpoch })).status).toBe(409);
    const renew = await tc.call('POST', `/api/fleet/jobs/${id}/lease/renew`, {
      token: tc.tokens.factory,
      json: { factoryId: 'f1', leaseEpoch },
      headers: as(p),
    });
    expect(renew.status).toBe(409);
    expect((await get(p, '/api/jobs?parent=01ARZ3NDEKTSV4RRFFQ69G5FAV')).jobs).toEqual([]);
  });

  it('refuses bad subtask bodies with 400 naming the field', async () => {
    const p = 'bad';
    const { id, leaseEpoch } = await building(p);
    const one = { title: 'T', body: 'B' };
    const cases: [object, string][] = [
      [{ leaseEpoch, subtasks: [] }, 'body.subtasks'],
      [{ leaseEpoch, subtasks: Array.from({ length: 51 }, () => one) }, 'body.subtasks'],
      [{ leaseEpoch }, 'body.subtasks'],
      [{ subtasks: [one] }, 'body.leaseEpoch'],
      [{ leaseEpoch, subtasks: [{ ...one, after: [1] }] }, 'body.subtasks.0.after.0'],
      [{ leaseEpoch, subtasks: [one, { ...one, after: [2] }] }, 'body.subtasks.1.after.0'],
      [{ leaseEpoch, subtasks: [one, { ...one, after: [3] }, one] }, 'body.subtasks.1.after.0'],
      [{ leaseEpoch, subtasks: [one, one, { ...one, after: [2, 2] }] }, 'body.subtasks.2.after.1'],
      [{ leaseEpoch, subtasks: [one, { ...one, after: [0] }] }, 'body.subtasks.1.after.0'],
      [{ leaseEpoch, subtasks: [one, { ...one, after: ['1'] }] }, 'body.subtasks.1.after.0'],
      [{ leaseEpoch, subtasks: [{ title: 'T' }] }, 'body.subtasks.0.body'],
      [{ leaseEpoch, subtasks: [{ title: ' ', body: 'B' }] }, 'body.subtasks.0.title'],
      [{ leaseEpoch, subtasks: [{ ...one, colour: 'red' }] }, 'body.subtasks.0'],
      [{ leaseEpoch, subtasks: [{ ...one, body: 'a\u0000b' }] }, 'body.subtasks.0.body'],
    ];
    for (const [json, path] of cases) {
      const res = await subtasks(p, id, json);
      expect(res.status, JSON.stringify(json).slice(0, 200)).toBe(400);
      expect(
        (res.body.error.details as { path: string }[]).map((d) => d.path),
        JSON.stringify(json).slice(0, 200),
      ).toContain(path);
    }
    const cycle = await subtasks(p, id, {
      leaseEpoch,
      subtasks: [
        { ...one, after: [2] },
        { ...one, after: [1] },
      ],
    });
    expect(cycle.body.error.details).toEqual([
      { path: 'body.subtasks.0.after.0', message: expect.stringContaining('first subtask') as string },
    ]);
    expect((await get(p, `/api/jobs?parent=${id}`)).jobs).toEqual([]);
    const missing = await subtasks(p, '01ARZ3NDEKTSV4RRFFQ69G5FAV', { leaseEpoch, subtasks: [one] });
    expect(missing.status).toBe(404);

    // A subtask is not split again.
    await subtasks(p, id, { leaseEpoch, subtasks: [one] });
    const child = await claim(p, 'f2');
    const nested = await subtasks(p, child.body.job.id, { leaseEpoch: child.body.leaseEpoch, subtasks: [one] }, 'f2');
    expect(nested.status).toBe(400);
    expect(nested.body.error.details).toEqual([
      { path: 'params.id', message: expect.stringContaining('subtask') as string },
    ]);
  });

  it('decomposition into 3 subtasks run by 2 factories, the parent ships after the last child', async () => {
    const p = 'e2e';
    const fleet = (factoryId: string) => ({
      factoryId,
      client: new FleetClient(httpTransport(tc.url, tc.tokens.factory, p), factoryId),
    });
    const a = fleet('factory-a');
    const b = fleet('factory-b');
    const { id, leaseEpoch } = await building(p, a.factoryId);
    const split = await a.client.subtasks(id, {
      leaseEpoch,
      subtasks: [
        { title: 'Model', body: 'Add the Tag model.' },
        { title: 'Storage', body: 'Store tags.' },
        { title: 'Route', body: 'Expose tags over HTTP.', after: [1, 2] },
      ],
    });
    expect(split.kind).toBe('ok');
    if (split.kind !== 'ok') return;
    const [model, storage, route] = [split.value.children[0]!, split.value.children[1]!, split.value.children[2]!];
    const claimBy = async (f: ReturnType<typeof fleet>, waitMs = 0) => {
      const outcome = await f.client.claim({ capabilities: [], waitMs });
      expect(outcome.kind).toBe('ok');
      return outcome.kind === 'ok' ? outcome.value : undefined;
    };

    const first = await claimBy(a);
    const second = await claimBy(b);
    expect([first?.job.id, second?.job.id]).toEqual([model.id, storage.id]);
    // The route waits for both: nothing is claimable while they run.
    expect(await claimBy(a)).toBeUndefined();
    await shipClaimed(p, second!, 'b000002');
    expect(await claimBy(a)).toBeUndefined();
    // Factory B long-polls; shipping the model (the last sibling the route waits for) hands it the route.
    const waiting = claimBy(b, 10_000);
    await shipClaimed(p, first!, 'a000001');
    const third = await waiting;
    expect(third?.job).toMatchObject({ id: route.id, position: '3/3', after: [1, 2] });
    expect((await get(p, `/api/jobs/${id}`)).stage).toBe('building');
    await shipClaimed(p, third!, 'b000003');

    const parent = await get(p, `/api/jobs/${id}`);
    expect(parent).toMatchObject({
      stage: 'shipped',
      result: { summary: 'all 3 subtasks shipped', commits: ['a000001', 'b000002', 'b000003'] },
    });
    expect(parent.children).toEqual([
      { id: model.id, title: 'Model', stage: 'shipped', position: '1/3' },
      { id: storage.id, title: 'Storage', stage: 'shipped', position: '2/3' },
      { id: route.id, title: 'Route', stage: 'shipped', position: '3/3' },
    ]);
    const events = (await get(p, `/api/jobs/${id}/events`)) as { type: string; actor: string; seq: number }[];
    expect(events.map((e) => `${e.type}:${e.actor}`)).toEqual([
      'job.created:human',
      'job.claimed:coordinator',
      'stage.changed:factory',
      'job.decomposed:factory',
      'job.subtasks_shipped:coordinator',
    ]);
    const routeEvents = (await get(p, `/api/jobs/${route.id}/events`)) as { type: string; seq: number }[];
    expect(events.at(-1)!.seq).toBeGreaterThan(routeEvents.at(-1)!.seq);
    const factoriesOf = async (childId: string) =>
      ((await get(p, `/api/jobs/${childId}/runs`)) as { factoryId: string }[]).map((r) => r.factoryId);
    expect([await factoriesOf(model.id), await factoriesOf(storage.id), await factoriesOf(route.id)]).toEqual([
      ['factory-a'],
      ['factory-b'],
      ['factory-b'],
    ]);

    if (backend !== 'sqlite') return;
    // The CLI shows the parent with its children, and a child with its parent and siblings.
    const cli = (...args: string[]) =>
      run(process.execPath, [BIN, '--url', tc.url, '--token', tc.tokens.admin, '--product', p, ...args], {
        env: { ...process.env, CONVEYOR_TOKEN: '', CONVEYOR_URL: '', CONVEYOR_ADMIN_TOKEN: '' },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const child = (await cli('job', storage.id)).stdout;
    expect(child).toContain(`subtask 2/3 of ${id}  Add tagging (shipped)`);
    expect(child).toContain('subtasks (3/3 shipped):');
    expect(child).toMatch(new RegExp(`→\\s+2/3\\s+${storage.id}\\s+shipped\\s+Storage`));
    expect(child).toMatch(new RegExp(`3/3\\s+${route.id}\\s+shipped\\s+Route`));
    const json = JSON.parse((await cli('job', id, '--json')).stdout) as {
      job: { stage: string; children: { id: string; position: string }[] };
      runs: unknown[];
      parent?: unknown;
    };
    expect(json.job.stage).toBe('shipped');
    expect(json.job.children.map((c) => c.position)).toEqual(['1/3', '2/3', '3/3']);
    expect(json.parent).toBeUndefined();
  });
});
