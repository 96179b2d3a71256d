/**
 * Agents talk back over real HTTP, on both backends: the lease holder is issued a credential for its
 * job's `allowedCommands`; with it the agent records progress, asks a question (the job blocks), splits
 * the job or files a capability request, each fenced by the lease; a command not allowed is refused and
 * recorded; once the lease ends the credential only gets 409; it opens nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BACKENDS } from './helpers/databases.js';
import { parsePrometheus, total } from './helpers/prometheus.js';

const REPO = 'https://git.example/app.git';

describe.each(BACKENDS)('agent commands (%s)', (backend) => {
  let tc: TestCoordinator;
  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
  });
  afterAll(async () => {
    await tc.close();
  });

  /** Submits a job allowing `commands`, claims it as factory f1: its id and lease epoch. */
  async function claimed(commands: string[] | undefined): Promise<{ id: string; epoch: number }> {
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Do the thing.', repo: REPO, ...(commands === undefined ? {} : { allowedCommands: commands }) },
    });
    expect(submitted.status).toBe(201);
    for (;;) {
      const claim = await tc.call('POST', '/api/fleet/claim', {
        token: tc.tokens.factory,
        json: { factoryId: 'f1', capabilities: [] },
      });
      expect(claim.status).toBe(200);
      if (claim.body.job.id === submitted.body.id) return { id: claim.body.job.id, epoch: claim.body.leaseEpoch };
      // An earlier test's leftover: give it up.
      await tc.call('POST', `/api/jobs/${String(claim.body.job.id)}/cancel`, { json: {} });
    }
  }
  const credential = (id: string, epoch: number, factoryId = 'f1') =>
    tc.call('POST', `/api/fleet/jobs/${id}/agent-credential`, {
      token: tc.tokens.factory,
      json: { factoryId, leaseEpoch: epoch },
    });
  const asAgent = (token: string, method: string, path: string, json?: unknown) =>
    tc.call(method, path, { token, ...(json === undefined ? {} : { json }) });
  const eventsOf = async (id: string): Promise<{ type: string; payload: Record<string, unknown> }[]> =>
    (await tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string; payload: Record<string, unknown> }[];

  it('names allowedCommands when a submission lists one that does not exist', async () => {
    const res = await tc.call('POST', '/api/jobs', {
      json: { body: 'x', repo: REPO, allowedCommands: ['ask', 'shell'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('body.allowedCommands.1');
  });

  it('gives the lease holder a credential for the allowed commands, and records what the agent does with it', async () => {
    const { id, epoch } = await claimed(['progress', 'ask']);
    const issued = await credential(id, epoch);
    expect(issued.status).toBe(201);
    expect(issued.body.commands).toEqual(['progress', 'ask']);
    const token = issued.body.token as string;

    const job = await asAgent(token, 'GET', '/api/agent/job');
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ jobId: id, leaseEpoch: epoch, commands: ['progress', 'ask'] });

    const progress = await asAgent(token, 'POST', '/api/agent/progress', { message: 'half way there' });
    expect(progress.status).toBe(200);

    const split = await asAgent(token, 'POST', '/api/agent/subtasks', { subtasks: [{ title: 'a', body: 'b' }] });
    expect(split.status).toBe(403);
    expect(split.body.error.message).toContain('subtasks is not one of them');
    const capability = await asAgent(token, 'POST', '/api/agent/request-capability', {
      name: 'pdf-text',
      description: 'Extract text from a PDF.',
    });
    expect(capability.status).toBe(403);

    // It opens nothing else: not the jobs API, not the fleet's calls.
    expect((await asAgent(token, 'GET', '/api/jobs')).status).toBe(403);
    expect((await asAgent(token, 'POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] })).status).toBe(403);
    // Never listed with the people's tokens.
    const tokens = await tc.call('GET', '/api/tokens');
    expect((tokens.body as { role: string }[]).map((t) => t.role)).not.toContain('agent');

    const ask = await asAgent(token, 'POST', '/api/agent/ask', { question: 'Which locale is the default?' });
    expect(ask.status).toBe(200);
    expect(ask.body).toMatchObject({ jobId: id, stage: 'blocked' });
    const detail = await tc.call('GET', `/api/jobs/${id}`);
    expect(detail.body.stage).toBe('blocked');
    expect(detail.body.error).toMatchObject({ code: 'needs_clarification', message: 'Which locale is the default?' });

    // The run ended with the question: the credential is spent, and each refusal is counted as a fence.
    const rejections = async (): Promise<number> =>
      total(parsePrometheus((await tc.call('GET', '/metrics')).body as string), 'conveyor_fence_rejections_total');
    const counted = await rejections();
    const after = await asAgent(token, 'POST', '/api/agent/progress', { message: 'still here?' });
    expect(after.status).toBe(409);
    expect((await asAgent(token, 'GET', '/api/agent/job')).status).toBe(409);
    expect(await rejections()).toBe(counted + 2);

    const events = await eventsOf(id);
    const types = events.map((e) => e.type);
    expect(types).toContain('agent.credential_issued');
    expect(events.find((e) => e.type === 'agent.progress')?.payload).toMatchObject({ message: 'half way there' });
    expect(events.filter((e) => e.type === 'agent.command_refused').map((e) => e.payload.command)).toEqual([
      'subtasks',
      'request_capability',
    ]);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('files a capability request as a job linked to the asking one, once per run, and splits a job', async () => {
    const { id, epoch } = await claimed(['request_capability', 'subtasks']);
    const token = (await credential(id, epoch)).body.token as string;
    const request = { name: 'pdf-text', description: 'Extract text from a PDF.', inputs: { path: 'string' } };
    const first = await asAgent(token, 'POST', '/api/agent/request-capability', request);
    expect(first.status).toBe(201);
    const again = await asAgent(token, 'POST', '/api/agent/request-capability', request);
    expect(again.body.requestedJobId).toBe(first.body.requestedJobId);
    const filed = await tc.call('GET', `/api/jobs/${String(first.body.requestedJobId)}`);
    expect(filed.body).toMatchObject({ title: 'Capability request: pdf-text', repo: REPO, source: `agent:${id}` });

    const split = await asAgent(token, 'POST', '/api/agent/subtasks', {
      subtasks: [
        { title: 'one', body: 'first half' },
        { title: 'two', body: 'second half' },
      ],
    });
    expect(split.status).toBe(201);
    expect(split.body.children).toHaveLength(2);
    // Splitting ended the run: the credential is spent.
    expect((await asAgent(token, 'POST', '/api/agent/request-capability', request)).status).toBe(409);
  });

  it('issues a credential only to the lease holder under the current epoch, and only for a job that allows a command', async () => {
    const none = await claimed(undefined);
    const refused = await credential(none.id, none.epoch);
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('allowedCommands');
    await tc.call('POST', `/api/jobs/${none.id}/cancel`, { json: {} });

    const { id, epoch } = await claimed(['progress']);
    expect((await credential(id, epoch + 1)).status).toBe(409);
    expect((await credential(id, epoch, 'f2')).status).toBe(409);
    const token = (await credential(id, epoch)).body.token as string;
    expect((await asAgent(token, 'POST', '/api/agent/progress', { message: 'working' })).status).toBe(200);
    // The lease ends (released to the queue): the credential is refused from then on.
    const released = await tc.call('POST', `/api/fleet/jobs/${id}/lease/release`, {
      token: tc.tokens.factory,
      json: { factoryId: 'f1', leaseEpoch: epoch },
    });
    expect(released.status).toBe(200);
    expect((await asAgent(token, 'POST', '/api/agent/progress', { message: 'late' })).status).toBe(409);
  });
});
