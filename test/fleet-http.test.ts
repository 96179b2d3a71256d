/** The fleet protocol over real HTTP on both backends: fencing, expiry, long-poll claims, drain. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { parsePrometheus, total } from './helpers/prometheus.js';

describe.each(BACKENDS)('fleet protocol over HTTP on %s', (backend) => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    // Short leases so expiry can be watched for real; a fast reaper.
    tc = await startTestCoordinator(backend, {
      leaseTtlMs: 600,
      heartbeatMs: 200,
      reaperIntervalMs: 50,
      retryBaseMs: 1,
    });
  });
  afterAll(async () => {
    await tc.close();
  });

  const submit = async (product: string, title = 'task') => {
    const res = await tc.call('POST', '/api/jobs', {
      json: { title, body: 'Do the thing.', repo: 'https://git.example/app.git' },
      headers: { 'x-product-id': product },
    });
    expect(res.status).toBe(201);
    return res.body as { id: string };
  };
  const claim = (product: string, factoryId: string, waitMs?: number) =>
    tc.call('POST', '/api/fleet/claim', {
      token: tc.tokens.factory,
      json: { factoryId, capabilities: [], ...(waitMs === undefined ? {} : { waitMs }) },
      headers: { 'x-product-id': product },
    });
  /** A stage report as factory `factoryId` (every fleet write names its factory). */
  const patch = (product: string, id: string, json: object, factoryId = 'f1') =>
    tc.call('PATCH', `/api/fleet/jobs/${id}`, {
      token: tc.tokens.factory,
      json: { factoryId, ...json },
      headers: { 'x-product-id': product },
    });

  it('walks a job to shipped and refuses an illegal stage with 422 naming the allowed ones', async () => {
    const job = await submit('walk');
    const claimed = await claim('walk', 'f1');
    expect(claimed.status).toBe(200);
    expect(claimed.body).toMatchObject({ job: { id: job.id, stage: 'assigned' }, leaseEpoch: 1 });
    const epoch = claimed.body.leaseEpoch as number;
    const illegal = await patch('walk', job.id, { stage: 'shipped', leaseEpoch: epoch });
    expect(illegal.status).toBe(422);
    expect(illegal.body.error).toMatchObject({
      code: 'illegal_transition',
      allowed: ['building', 'blocked', 'failed'],
    });
    for (const stage of ['building', 'review', 'testing']) {
      expect((await patch('walk', job.id, { stage, leaseEpoch: epoch })).status).toBe(200);
    }
    const shipped = await patch('walk', job.id, { stage: 'shipped', leaseEpoch: epoch, result: { commit: 'abc1234' } });
    expect(shipped.body).toMatchObject({ stage: 'shipped', lease: null, result: { commit: 'abc1234' } });
    const runs = await tc.call('GET', `/api/fleet/jobs/${job.id}/runs`, {
      token: tc.tokens.factory,
      headers: { 'x-product-id': 'walk' },
    });
    expect(runs.body).toEqual([expect.objectContaining({ epoch, factoryId: 'f1', outcome: 'shipped' })]);
  });

  it('answers 409 with the current epoch to stale PATCH, renew and release, changing nothing', async () => {
    const job = await submit('fence');
    const { leaseEpoch } = (await claim('fence', 'f1')).body as { leaseEpoch: number };
    const before = await tc.call('GET', `/api/jobs/${job.id}`, { headers: { 'x-product-id': 'fence' } });
    const headers = { 'x-product-id': 'fence' };
    const stale = leaseEpoch - 1;
    const calls = [
      patch('fence', job.id, { stage: 'building', leaseEpoch: stale }),
      tc.call('POST', `/api/fleet/jobs/${job.id}/lease/renew`, {
        token: tc.tokens.factory,
        json: { factoryId: 'f1', leaseEpoch: stale },
        headers,
      }),
      tc.call('POST', `/api/fleet/jobs/${job.id}/lease/release`, {
        token: tc.tokens.factory,
        json: { factoryId: 'f1', leaseEpoch: stale },
        headers,
      }),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'stale_epoch', currentEpoch: leaseEpoch });
    }
    const after = await tc.call('GET', `/api/jobs/${job.id}`, { headers: { 'x-product-id': 'fence' } });
    expect(after.body).toEqual(before.body);
  });

  it('records what the lease holder observed as job events, fenced like a report, and counts model usage', async () => {
    const job = await submit('observe');
    const { leaseEpoch } = (await claim('observe', 'f1')).body as { leaseEpoch: number };
    const send = (json: object) =>
      tc.call('POST', `/api/fleet/jobs/${job.id}/events`, {
        token: tc.tokens.factory,
        json: { factoryId: 'f1', ...json },
        headers: { 'x-product-id': 'observe' },
      });
    const events = [
      {
        type: 'llm.call',
        payload: { runtime: 'builtin', model: 'observe-model', inputTokens: 120, outputTokens: 30, costUsd: 0.0021 },
      },
      { type: 'tool.call', payload: { tool: 'edit', input: { path: 'a.ts' } } },
    ];
    const ok = await send({ leaseEpoch, events });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ recorded: 2 });
    const reserved = await send({ leaseEpoch, events: [{ type: 'stage.changed', payload: {} }] });
    expect(reserved.status).toBe(400);
    expect(reserved.body.error.details).toEqual([
      { path: 'body.events.0.type', message: expect.stringContaining('only the coordinator') as string },
    ]);
    const stale = await send({ leaseEpoch: leaseEpoch - 1, events });
    expect(stale.status).toBe(409);
    const recorded = await tc.call('GET', `/api/jobs/${job.id}/events`, { headers: { 'x-product-id': 'observe' } });
    const observed = (recorded.body as { type: string; actor: string; epoch: number; payload: unknown }[]).filter(
      (e) => e.type === 'llm.call' || e.type === 'tool.call',
    );
    expect(observed).toEqual([
      expect.objectContaining({ type: 'llm.call', actor: 'factory', epoch: leaseEpoch, payload: events[0]!.payload }),
      expect.objectContaining({ type: 'tool.call', actor: 'factory', epoch: leaseEpoch, payload: events[1]!.payload }),
    ]);
    const metrics = await tc.call('GET', '/metrics');
    expect(metrics.body).toMatch(/conveyor_llm_tokens_total\{model="observe-model",kind="input"\} 120\b/);
    expect(metrics.body).toMatch(/conveyor_llm_cost_usd_total\{model="observe-model"\} 0\.0021\b/);
  });

  it('hands a job on a CLI agent only to a factory that has that CLI', async () => {
    const res = await tc.call('POST', '/api/jobs', {
      json: {
        body: 'Use Claude.',
        repo: 'https://git.example/app.git',
        agent: { runtime: 'claude-code' },
        capabilities: ['linux'],
      },
      headers: { 'x-product-id': 'cli-agent' },
    });
    expect(res.body.requiredCapabilities).toEqual(['claude', 'linux']);
    const claimWith = (capabilities: string[]) =>
      tc.call('POST', '/api/fleet/claim', {
        token: tc.tokens.factory,
        json: { factoryId: 'f-cli', capabilities },
        headers: { 'x-product-id': 'cli-agent' },
      });
    expect((await claimWith(['linux', 'codex'])).status).toBe(204);
    expect((await claimWith(['linux', 'claude'])).body).toMatchObject({ job: { id: res.body.id } });
  });

  it('expires a silent lease: the old holder gets 409, a new claim gets a higher epoch', async () => {
    const job = await submit('expiry');
    const first = (await claim('expiry', 'zombie')).body as { leaseEpoch: number };
    await new Promise((resolve) => setTimeout(resolve, 900));
    const late = await patch('expiry', job.id, { stage: 'building', leaseEpoch: first.leaseEpoch }, 'zombie');
    expect(late.status).toBe(409);
    const second = await claim('expiry', 'healthy', 2000);
    expect(second.status).toBe(200);
    expect(second.body.job.id).toBe(job.id);
    expect(second.body.leaseEpoch).toBeGreaterThan(first.leaseEpoch);
    const healthy = await patch('expiry', job.id, { stage: 'building', leaseEpoch: second.body.leaseEpoch }, 'healthy');
    expect(healthy.status).toBe(200);
    const events = await tc.call('GET', `/api/jobs/${job.id}/events`, { headers: { 'x-product-id': 'expiry' } });
    const types = (events.body as { type: string }[]).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['lease.expired', 'fence.rejected']));
  });

  it('wakes a waiting claimer as soon as a job is submitted', async () => {
    const started = Date.now();
    const waiting = claim('wake', 'waiter', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const job = await submit('wake');
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body.job.id).toBe(job.id);
    // Well before the 10 s wait ran out, and without waiting for a poll interval.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('hands nothing to a long poll whose factory went away', async () => {
    const gone = new AbortController();
    const parked = fetch(`${tc.url}/api/fleet/claim`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tc.tokens.factory}`,
        'content-type': 'application/json',
        'x-product-id': 'gone',
      },
      body: JSON.stringify({ factoryId: 'f-gone', capabilities: [], waitMs: 20_000 }),
      signal: gone.signal,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    gone.abort();
    await parked;
    await new Promise((r) => setTimeout(r, 100));
    const job = await submit('gone');
    const claimed = await claim('gone', 'f-here');
    expect(claimed.body).toMatchObject({ job: { id: job.id }, leaseEpoch: 1 });
    const runs = (await tc.call('GET', `/api/jobs/${job.id}/runs`, { headers: { 'x-product-id': 'gone' } })).body;
    expect(runs).toEqual([expect.objectContaining({ factoryId: 'f-here' })]);
  });

  it('answers 204 when nothing is claimable within waitMs', async () => {
    const res = await claim('empty', 'idle', 100);
    expect(res.status).toBe(204);
  });

  it('registers factories by heartbeat and hands the drain flag back', async () => {
    const beat = () =>
      tc.call('POST', '/api/fleet/factories/heartbeat', {
        token: tc.tokens.factory,
        json: { factoryId: 'box-1', capabilities: ['node', 'git'], health: 'ok', load: 0, slots: 2 },
        headers: { 'x-product-id': 'fleet' },
      });
    expect((await beat()).body).toEqual({ drain: false, heartbeatSec: 0.2, leaseTtlSec: 0.6 });
    const drained = await tc.call('POST', '/api/factories/box-1/drain', { headers: { 'x-product-id': 'fleet' } });
    expect(drained.body).toMatchObject({ id: 'box-1', drain: true });
    expect((await beat()).body.drain).toBe(true);
    const list = await tc.call('GET', '/api/factories', {
      token: tc.tokens.submit,
      headers: { 'x-product-id': 'fleet' },
    });
    expect(list.body).toEqual([
      expect.objectContaining({ id: 'box-1', capabilities: ['node', 'git'], slots: 2, drain: true }),
    ]);
  });

  it('cancels, retries and unblocks through the jobs API', async () => {
    const job = await submit('people');
    const headers = { 'x-product-id': 'people' };
    const { leaseEpoch } = (await claim('people', 'f1')).body as { leaseEpoch: number };
    const blocked = await patch('people', job.id, {
      stage: 'blocked',
      leaseEpoch,
      error: { code: 'needs_clarification', message: 'Which database?' },
    });
    expect(blocked.body.stage).toBe('blocked');
    const empty = await tc.call('POST', `/api/jobs/${job.id}/unblock`, { json: { answer: ' ' }, headers });
    expect(empty.status).toBe(400);
    expect(empty.body.error.details).toEqual([{ path: 'body.answer', message: 'the answer must not be empty' }]);
    const unblocked = await tc.call('POST', `/api/jobs/${job.id}/unblock`, { json: { answer: 'PostgreSQL' }, headers });
    expect(unblocked.body).toMatchObject({
      stage: 'queued',
      clarifications: [{ question: 'Which database?', answer: 'PostgreSQL' }],
    });
    const cancelled = await tc.call('POST', `/api/jobs/${job.id}/cancel`, {
      json: { reason: 'done elsewhere' },
      headers,
    });
    expect(cancelled.body.stage).toBe('cancelled');
    const again = await tc.call('POST', `/api/jobs/${job.id}/cancel`, { headers });
    expect(again.status).toBe(422);
    const retried = await tc.call('POST', `/api/jobs/${job.id}/retry`, { headers });
    expect(retried.body).toMatchObject({ stage: 'queued', attempts: 0 });
  });

  it('accepts a task file as text/markdown: the same job for a repeated idempotency key, 409 for a changed file', async () => {
    const text =
      '---\ntitle: From a file\nrepo: https://git.example/app.git\npriority: 4\nverify: ["npm test"]\n---\n# Heading\nBody text.\n';
    const send = () =>
      tc.call('POST', '/api/jobs', {
        body: text,
        headers: { 'content-type': 'text/markdown', 'idempotency-key': 'file-1', 'x-product-id': 'files' },
      });
    const first = await send();
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      title: 'From a file',
      priority: 4,
      verify: ['npm test'],
      body: '# Heading\nBody text.',
    });
    const second = await send();
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    // The same key with a different submission is a conflict, not the first job again.
    const changed = await tc.call('POST', '/api/jobs', {
      body: text.replace('priority: 4', 'priority: 5'),
      headers: { 'content-type': 'text/markdown', 'idempotency-key': 'file-1', 'x-product-id': 'files' },
    });
    expect(changed.status).toBe(409);
    expect(changed.body.error).toMatchObject({
      code: 'idempotency_conflict',
      message: expect.stringContaining(`"file-1" was already used for job ${first.body.id as string}`) as string,
    });
    const bad = await tc.call('POST', '/api/jobs', {
      body: '---\npriority: high\n---\nbody',
      headers: { 'content-type': 'text/markdown', 'x-product-id': 'files' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('priority');
  });

  it('lists jobs with stage filter and cursor pagination', async () => {
    const headers = { 'x-product-id': 'paging' };
    for (let i = 0; i < 5; i++) await submit('paging', `job ${i}`);
    const page1 = await tc.call('GET', '/api/jobs?limit=3', { headers });
    expect(page1.body.jobs).toHaveLength(3);
    const page2 = await tc.call('GET', `/api/jobs?limit=3&cursor=${page1.body.nextCursor}`, { headers });
    expect(page2.body.jobs).toHaveLength(2);
    expect(page2.body.nextCursor).toBeNull();
    const shipped = await tc.call('GET', '/api/jobs?stage=shipped,failed', { headers });
    expect(shipped.body.jobs).toEqual([]);
    const bad = await tc.call('GET', '/api/jobs?stage=done', { headers });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('query.stage.0');
  });

  it('serves metrics in the Prometheus text format that count exactly what the event log holds', async () => {
    // One consistent snapshot: metrics read between two reads of the event log that agree (a renewal
    // still under way from an earlier test may append a rejection in between).
    const read = () => tc.store.readEvents({ after: 0, limit: 100_000 });
    let before = await read();
    let metrics = await tc.call('GET', '/metrics');
    let events = await read();
    for (let tries = 0; events.length !== before.length && tries < 50; tries++) {
      before = events;
      metrics = await tc.call('GET', '/metrics');
      events = await read();
    }
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(metrics.body as string);
    const count = (type: string) => events.filter((e) => e.type === type).length;
    expect(total(samples, 'conveyor_claims_total')).toBe(count('job.claimed'));
    expect(total(samples, 'conveyor_claims_total')).toBeGreaterThanOrEqual(5);
    expect(total(samples, 'conveyor_fence_rejections_total')).toBe(count('fence.rejected'));
    expect(total(samples, 'conveyor_lease_expiries_total')).toBe(count('lease.expired'));
    expect(total(samples, 'conveyor_jobs', { product: 'walk', stage: 'shipped' })).toBe(1);
    const jobs = await tc.store.countByStage();
    expect(total(samples, 'conveyor_jobs')).toBe(jobs.reduce((sum, row) => sum + row.count, 0));
    expect(
      total(samples, 'conveyor_http_request_duration_seconds_count', { route: '/api/fleet/claim' }),
    ).toBeGreaterThan(0);
  });

  it('counts parked claims and shutdown listeners on /metrics, back to where they were once the claims are answered', async () => {
    const gauges = async (): Promise<{ parked: number; listeners: number }> => {
      const samples = parsePrometheus((await tc.call('GET', '/metrics')).body as string);
      return {
        parked: total(samples, 'conveyor_parked_claims'),
        listeners: total(samples, 'conveyor_shutdown_listeners'),
      };
    };
    const before = await gauges();
    const headers = { 'x-product-id': 'parked-gauge' };
    const claims = Array.from({ length: 3 }, (_, i) =>
      tc.call('POST', '/api/fleet/claim', {
        token: tc.tokens.factory,
        json: { factoryId: `f-parked-${String(i)}`, capabilities: [], waitMs: 20_000 },
        headers,
      }),
    );
    await expect.poll(async () => (await gauges()).parked, { timeout: 10_000 }).toBe(before.parked + 3);
    expect((await gauges()).listeners).toBeGreaterThanOrEqual(before.listeners + 3);
    for (let i = 0; i < 3; i++) {
      const submitted = await tc.call('POST', '/api/jobs', {
        json: { body: `parked ${String(i)}`, repo: 'https://git.example/app.git' },
        headers,
      });
      expect(submitted.status).toBe(201);
    }
    expect((await Promise.all(claims)).map((claim) => claim.status)).toEqual([200, 200, 200]);
    await expect.poll(gauges, { timeout: 10_000 }).toEqual(before);
  });
});
