/**
 * The contract in `src/protocol/` against a real coordinator on both backends: every JSON route
 * declares its answer schema, real answers parse with it, and the OpenAPI document carries both the
 * request and the answer schemas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimedJob, SubtasksAnswer } from '../src/protocol/fleet.js';
import { EventList, JobPage, RunList } from '../src/protocol/jobs.js';
import { JobDetailView, JobView } from '../src/protocol/views.js';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { assertConforms, declaredAnswer, endpoints } from './helpers/routes.js';

/** Routes that answer something other than one JSON document: an event stream, metrics text, the document itself. */
const NOT_JSON = ['GET /api/events', 'GET /metrics', 'GET /api/openapi.json'];

describe.each(BACKENDS)('the protocol on %s', (backend) => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
  });
  afterAll(async () => {
    await tc.close();
  });

  const as = { 'x-product-id': 'protocol' };
  const fleet = (method: string, path: string, json?: unknown) =>
    tc.call(method, path, { token: tc.tokens.factory, headers: as, ...(json === undefined ? {} : { json }) });

  it('every route that answers JSON declares its answer schema', () => {
    const undeclared = endpoints(tc.coordinator.routes)
      .filter((e) => !NOT_JSON.includes(e.name))
      .filter((e) => declaredAnswer(tc.coordinator.routes, e.method, e.url) === undefined)
      .map((e) => e.name);
    expect(undeclared).toEqual([]);
  });

  it('real answers parse with the protocol schemas: a claimed job, a job detail, its runs and events, subtasks', async () => {
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { title: 'Split me', body: 'Two parts.', repo: 'https://git.example/app.git' },
      headers: as,
    });
    const job = JobView.parse(submitted.body);
    const claimed = ClaimedJob.parse(
      (await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] })).body,
    );
    expect(claimed.job.id).toBe(job.id);
    const leaseEpoch = claimed.leaseEpoch;
    await fleet('POST', `/api/fleet/jobs/${job.id}/events`, {
      factoryId: 'f1',
      leaseEpoch,
      events: [{ type: 'llm.call', payload: { model: 'm', inputTokens: 3 } }],
    });
    JobView.parse(
      (await fleet('PATCH', `/api/fleet/jobs/${job.id}`, { factoryId: 'f1', stage: 'building', leaseEpoch })).body,
    );
    const split = SubtasksAnswer.parse(
      (
        await fleet('POST', `/api/fleet/jobs/${job.id}/subtasks`, {
          factoryId: 'f1',
          leaseEpoch,
          subtasks: [
            { title: 'One', body: 'First.' },
            { title: 'Two', body: 'Second.', after: [1] },
          ],
        })
      ).body,
    );
    expect(split.children.map((c) => c.position)).toEqual(['1/2', '2/2']);
    const detail = JobDetailView.parse((await tc.call('GET', `/api/jobs/${job.id}`, { headers: as })).body);
    expect(detail.children.map((c) => c.title)).toEqual(['One', 'Two']);
    const runs = RunList.parse((await tc.call('GET', `/api/jobs/${job.id}/runs`, { headers: as })).body);
    expect(runs.map((r) => r.outcome)).toEqual(['decomposed']);
    const events = EventList.parse((await tc.call('GET', `/api/jobs/${job.id}/events`, { headers: as })).body);
    expect(events.map((e) => e.type)).toContain('llm.call');
    const page = JobPage.parse((await tc.call('GET', `/api/jobs?parent=${job.id}`, { headers: as })).body);
    expect(page.jobs).toHaveLength(2);
  });

  it('an answer that leaves the contract fails the check every HTTP test makes', async () => {
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Checked.', repo: 'https://git.example/app.git' },
      headers: as,
    });
    const { createdAt: _dropped, ...withoutCreatedAt } = submitted.body as Record<string, unknown>;
    const path = `/api/jobs/${String(submitted.body.id)}/cancel`;
    expect(() => {
      assertConforms(tc.coordinator.routes, 'POST', path, withoutCreatedAt);
    }).toThrow(/createdAt/);
    expect(() => {
      assertConforms(tc.coordinator.routes, 'POST', path, { ...submitted.body, internal: 1 });
    }).toThrow(/internal/);
  });

  it('the OpenAPI document carries the request and answer schemas', async () => {
    const document = (await tc.call('GET', '/api/openapi.json', { token: '' })).body;
    const claim = document.paths['/api/fleet/claim'].post;
    expect(claim.requestBody.content['application/json'].schema.required).toEqual(['factoryId', 'capabilities']);
    expect(claim.responses['200'].content['application/json'].schema.required).toEqual([
      'job',
      'leaseEpoch',
      'leaseExpiresAt',
    ]);
    const detail = document.paths['/api/jobs/{id}'].get.responses['200'].content['application/json'].schema;
    expect(detail.properties.children.type).toBe('array');
    const error = document.components.responses.Error.content['application/json'].schema;
    expect(error.properties.error.required).toEqual(['code', 'message', 'details']);
  });
});
