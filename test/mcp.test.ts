/**
 * The Conveyor MCP server as MCP clients use it: the SDK's `Client` over stdio (the real `conveyor mcp`
 * child process) and over streamable HTTP (`/mcp` on a real coordinator on loopback). Every tool is
 * called on both transports; bad input, API refusals and other products' jobs come back as tool errors.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CallToolResult, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN } from './helpers/factory-process.js';
import { freePort } from './helpers/free-port.js';

const TOOLS = ['answer_job', 'cancel_job', 'get_job', 'list_jobs', 'request_capability', 'submit_job'];
/** `conveyor mcp` also serves the tool cache of its machine (here an empty one). */
const CACHE_TOOLS = ['list_tools', 'promote_tool'];
/** A syntactically valid job id that names no job. */
const NO_JOB = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

type Transport = 'stdio' | 'http';

let tc: TestCoordinator;
let cwd: string;
const clients: Client[] = [];

/** Our environment without any `CONVEYOR_*` setting, plus `extra`. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CONVEYOR_') && value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

/** An MCP client connected over `transport` as `token`, acting on `product` when given. */
async function connect(
  transport: Transport,
  token: string,
  product?: string,
  url: string = tc.url,
  args: string[] = ['mcp'],
): Promise<{ client: Client; stderr: () => string }> {
  const client = new Client({ name: 'conveyor-test', version: '1.0.0' });
  let stderr = '';
  if (transport === 'stdio') {
    const stdio = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, ...args],
      cwd,
      env: cleanEnv({
        CONVEYOR_URL: url,
        CONVEYOR_TOKEN: token,
        CONVEYOR_TOOLS_CACHE: join(cwd, 'tools'),
        ...(product === undefined ? {} : { CONVEYOR_PRODUCT: product }),
      }),
      stderr: 'pipe',
    });
    stdio.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await client.connect(stdio);
  } else {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (product !== undefined) headers['x-product-id'] = product;
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }));
  }
  clients.push(client);
  return { client, stderr: () => stderr };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

interface Page {
  jobs: { id: string }[];
  nextCursor: string | null;
}

/** The structured answer of a successful call (failing the test with the tool's message otherwise). */
async function ok(client: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const result = await call(client, name, args);
  expect(result.isError, JSON.stringify(result.content)).not.toBe(true);
  expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
  return result.structuredContent;
}

/** The message of a tool error. */
async function toolError(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = await call(client, name, args);
  expect(result.isError, `${name} should have failed: ${JSON.stringify(result.content)}`).toBe(true);
  return (result.content[0] as { text: string }).text;
}

/** Puts a job of `product` in `blocked` with `question`, as a factory does. */
async function block(product: string, id: string, question: string): Promise<void> {
  const headers = { 'x-product-id': product };
  const claim = await tc.call('POST', '/api/fleet/claim', {
    json: { factoryId: 'mcp-test', capabilities: [] },
    headers,
  });
  expect(claim.body.job.id).toBe(id);
  const { leaseEpoch } = claim.body as { leaseEpoch: number };
  const report = (json: Record<string, unknown>) =>
    tc.call('PATCH', `/api/fleet/jobs/${id}`, { json: { factoryId: 'mcp-test', leaseEpoch, ...json }, headers });
  expect((await report({ stage: 'building' })).status).toBe(200);
  const blocked = await report({ stage: 'blocked', error: { code: 'needs_clarification', message: question } });
  expect(blocked.body.stage).toBe('blocked');
}

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'conveyor-mcp-'));
  tc = await startTestCoordinator('sqlite');
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await tc.close();
  rmSync(cwd, { recursive: true, force: true });
});

describe.each<Transport>(['stdio', 'http'])('the Conveyor MCP server over %s', (transport) => {
  /** Each transport works in a product of its own, so claims and lists see only its jobs. */
  const product = `mcp-${transport}`;
  let client: Client;

  beforeAll(async () => {
    ({ client } = await connect(transport, tc.tokens.submit, product));
  });

  it('lists the Conveyor tools with JSON Schemas from the protocol, and the job resource template', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(transport === 'stdio' ? [...TOOLS, ...CACHE_TOOLS].sort() : TOOLS);
    const submit = tools.find((t) => t.name === 'submit_job');
    expect(submit?.inputSchema).toMatchObject({
      type: 'object',
      required: ['body'],
      additionalProperties: false,
      properties: {
        body: { type: 'string', minLength: 1 },
        priority: { type: 'integer', minimum: -1000, maximum: 1000 },
        ship: { enum: ['none', 'branch', 'merge', 'pr'] },
        verify: { type: 'array' },
      },
    });
    const get = tools.find((t) => t.name === 'get_job');
    expect(get?.inputSchema).toMatchObject({ required: ['id'], properties: { id: { type: 'string' } } });
    expect(get?.annotations?.readOnlyHint).toBe(true);
    expect(get?.outputSchema).toMatchObject({ type: 'object', properties: { stage: { enum: expect.any(Array) } } });
    expect(tools.find((t) => t.name === 'cancel_job')?.annotations?.destructiveHint).toBe(true);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([
      expect.objectContaining({ uriTemplate: 'conveyor://jobs/{id}', mimeType: 'application/json' }),
    ]);
  });

  it('submits, gets, lists and cancels a job, and reads it as a resource', async () => {
    const job = await ok(client, 'submit_job', {
      repo: 'https://git.example/app.git',
      title: `Over ${transport}`,
      body: '# Add tags\nLet bookmarks carry tags.',
      capabilities: ['node'],
      verify: ['npm test'],
      ship: 'branch',
      priority: 3,
    });
    expect(job).toMatchObject({
      title: `Over ${transport}`,
      stage: 'queued',
      product,
      priority: 3,
      ship: 'branch',
      source: 'mcp',
    });
    expect(job.requiredCapabilities).toEqual(['node']);
    // The REST API sees the same job in the same product.
    expect((await tc.call('GET', `/api/jobs/${job.id}`, { headers: { 'x-product-id': product } })).status).toBe(200);

    const got = await ok(client, 'get_job', { id: job.id });
    expect(got).toMatchObject({ id: job.id, stage: 'queued', children: [] });

    const listed = (await ok(client, 'list_jobs', { stage: ['queued'], search: `Over ${transport}` })) as Page;
    expect(listed.jobs.map((j) => j.id)).toEqual([job.id]);
    expect(listed.nextCursor).toBeNull();
    const none = await ok(client, 'list_jobs', { stage: ['shipped'] });
    expect(none.jobs).toEqual([]);

    const read = await client.readResource({ uri: `conveyor://jobs/${job.id}` });
    expect(read.contents).toHaveLength(1);
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ id: job.id, stage: 'queued' });
    const { resources } = await client.listResources();
    expect(resources).toContainEqual(
      expect.objectContaining({ uri: `conveyor://jobs/${job.id}`, mimeType: 'application/json' }),
    );

    const cancelled = await ok(client, 'cancel_job', { id: job.id, reason: 'not needed' });
    expect(cancelled).toMatchObject({ id: job.id, stage: 'cancelled' });
    // The API's refusal, as the API words it.
    expect(await toolError(client, 'cancel_job', { id: job.id })).toMatch(
      /cannot move from cancelled to cancelled.*\(HTTP 422 illegal_transition\)$/,
    );
  });

  it('answers a blocked job: it is queued again with the answer', async () => {
    const job = await ok(client, 'submit_job', {
      repo: 'https://git.example/app.git',
      body: 'Pick a database and use it.',
    });
    await block(product, job.id, 'Which database?');
    const blocked = await ok(client, 'get_job', { id: job.id });
    expect(blocked).toMatchObject({ stage: 'blocked', error: { message: 'Which database?' } });
    const answered = await ok(client, 'answer_job', { id: job.id, answer: 'PostgreSQL' });
    expect(answered).toMatchObject({
      stage: 'queued',
      clarifications: [expect.objectContaining({ question: 'Which database?', answer: 'PostgreSQL' })],
    });
    expect(await toolError(client, 'answer_job', { id: job.id, answer: 'again' })).toMatch(
      /cannot move from queued.*HTTP 422/,
    );
    await ok(client, 'cancel_job', { id: job.id });
  });

  it('lets a client subscribe to a job where the transport carries notifications, and says each stage change', async () => {
    expect(client.getServerCapabilities()?.resources?.subscribe === true).toBe(transport === 'stdio');
    if (transport !== 'stdio') return;
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updates.push(notification.params.uri);
    });
    const job = await ok(client, 'submit_job', { repo: 'https://git.example/app.git', body: 'Pick a colour.' });
    const uri = `conveyor://jobs/${String(job.id)}`;
    await client.subscribeResource({ uri });
    await block(product, job.id, 'Which colour?');
    await expect.poll(() => updates.length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(new Set(updates)).toEqual(new Set([uri]));
    await client.unsubscribeResource({ uri });
    const heard = updates.length;
    await ok(client, 'cancel_job', { id: job.id });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(updates).toHaveLength(heard);
    await expect(client.subscribeResource({ uri: 'conveyor://jobs/nope' })).rejects.toThrow(/not a job/);
  });

  it('turns bad input into tool errors naming the field, and keeps serving', async () => {
    expect(await toolError(client, 'get_job', { id: 'not-a-job' })).toBe(
      'invalid arguments: id: must be a job id (26-character ULID)',
    );
    expect(await toolError(client, 'submit_job', { title: 'No body' })).toMatch(/^invalid arguments: body: /);
    expect(await toolError(client, 'submit_job', { body: 'x', priority: 'high' })).toMatch(
      /^invalid arguments: priority: /,
    );
    expect(await toolError(client, 'submit_job', { body: 'x', prio: 1 })).toBe(
      'invalid arguments: (top level): unknown field(s) "prio": remove them or check the spelling',
    );
    expect(await toolError(client, 'list_jobs', { stage: ['finished'] })).toMatch(/^invalid arguments: stage\.0: /);
    expect(await toolError(client, 'answer_job', { id: NO_JOB, answer: '  ' })).toBe(
      'invalid arguments: answer: the answer must not be empty',
    );
    // Checks only the API makes come back in the API's words.
    expect(await toolError(client, 'get_job', { id: NO_JOB })).toMatch(/\(HTTP 404 not_found\)$/);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(
      /unknown tool "no_such_tool"/,
    );
    await expect(client.readResource({ uri: `conveyor://jobs/${NO_JOB}` })).rejects.toThrow(/HTTP 404 not_found/);
    // Still serving.
    expect((await ok(client, 'list_jobs', {})).jobs).toEqual(expect.any(Array));
  });

  it('never shows a token bound to product alpha the jobs of another product', async () => {
    const job = await ok(client, 'submit_job', {
      repo: 'https://git.example/app.git',
      title: 'Not for alpha',
      body: 'Belongs elsewhere.',
    });
    const { client: alpha } = await connect(transport, tc.tokens.alphaSubmit);
    expect(await toolError(alpha, 'get_job', { id: job.id })).toMatch(/\(HTTP 404 not_found\)$/);
    expect(await toolError(alpha, 'cancel_job', { id: job.id })).toMatch(/\(HTTP 404 not_found\)$/);
    await expect(alpha.readResource({ uri: `conveyor://jobs/${job.id}` })).rejects.toThrow(/HTTP 404/);
    const listed = (await ok(alpha, 'list_jobs', {})) as Page;
    expect(listed.jobs.map((j) => j.id)).not.toContain(job.id);
    const own = await ok(alpha, 'submit_job', { repo: 'https://git.example/app.git', body: 'Alpha work.' });
    expect(own.product).toBe('alpha');
    expect((await ok(client, 'get_job', { id: job.id })).stage).toBe('queued');
  });
});

describe('/mcp over HTTP', () => {
  const initialize = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
  };
  const post = (headers: Record<string, string>, body: unknown = initialize) =>
    fetch(`${tc.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
    });

  it('answers 401 in the API error shape without a token or with an unknown one', async () => {
    for (const headers of [{}, { authorization: 'Bearer cvy_not-a-token' }]) {
      const response = await post(headers);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: { code: 'unauthenticated', message: expect.any(String), details: [] },
      });
    }
    const client = new Client({ name: 'no-token', version: '1' });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(`${tc.url}/mcp`)))).rejects.toMatchObject({
      code: 401,
      message: expect.stringContaining('missing Authorization header'),
    });
  });

  it('answers 403 to a factory token and to a product-bound token naming another product', async () => {
    expect((await post({ authorization: `Bearer ${tc.tokens.factory}` })).status).toBe(403);
    const other = await post({ authorization: `Bearer ${tc.tokens.alphaSubmit}`, 'x-product-id': 'beta' });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: { message: string } }).error.message).toContain('alpha');
  });

  it('answers a plain JSON-RPC POST with JSON, and 405 with Allow: POST to GET and DELETE', async () => {
    const response = await post({ authorization: `Bearer ${tc.tokens.submit}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({
      jsonrpc: '2.0',
      id: 1,
      result: { serverInfo: { name: 'conveyor' }, capabilities: { tools: {}, resources: {} } },
    });
    for (const method of ['GET', 'DELETE']) {
      const refused = await fetch(`${tc.url}/mcp`, {
        method,
        headers: { authorization: `Bearer ${tc.tokens.submit}` },
      });
      expect(refused.status).toBe(405);
      expect(refused.headers.get('allow')).toBe('POST');
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
    }
    const notRpc = await post({ authorization: `Bearer ${tc.tokens.submit}` }, { hello: 'world' });
    expect(notRpc.status).toBe(400);
  });
});

describe('conveyor mcp', () => {
  it('explains itself in --help, with the Claude Code line', () => {
    const help = spawnSync(process.execPath, [BIN, 'mcp', '--help'], { cwd, encoding: 'utf8', env: cleanEnv({}) });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('claude mcp add conveyor');
    expect(help.stdout).toContain('CONVEYOR_TOKEN_FILE');
    expect(help.stdout).toContain('submit_job');
  });

  it('refuses to start without a token, saying which variable to set', () => {
    const run = spawnSync(process.execPath, [BIN, 'mcp'], { cwd, encoding: 'utf8', env: cleanEnv({}), input: '' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/CONVEYOR_TOKEN/);
    expect(run.stdout).toBe('');
  });

  it('answers with a tool error when the coordinator cannot be reached, and exits when stdin closes', async () => {
    const port = await freePort();
    const { client } = await connect('stdio', tc.tokens.submit, undefined, `http://127.0.0.1:${String(port)}`);
    expect(await toolError(client, 'get_job', { id: NO_JOB })).toMatch(
      /cannot reach the coordinator at http:\/\/127\.0\.0\.1/,
    );
    const transport = client.transport as StdioClientTransport;
    const pid = transport.pid;
    expect(pid).not.toBeNull();
    await client.close();
    // The server process is gone once its stdin is closed.
    await expect
      .poll(() => {
        try {
          process.kill(pid!, 0);
          return 'running';
        } catch {
          return 'gone';
        }
      })
      .toBe('gone');
  });
});

describe('conveyor mcp --agent', () => {
  /** A job allowing `commands`, claimed by factory mcp-agent: its id, epoch and agent credential. */
  async function agentOf(commands: string[]): Promise<{ id: string; epoch: number; credential: string }> {
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Work.', repo: 'https://git.example/app.git', allowedCommands: commands },
      headers: { 'x-product-id': 'agents' },
    });
    const claim = await tc.call('POST', '/api/fleet/claim', {
      json: { factoryId: 'mcp-agent', capabilities: [] },
      headers: { 'x-product-id': 'agents' },
    });
    expect(claim.body.job.id).toBe(submitted.body.id);
    const epoch = claim.body.leaseEpoch as number;
    const issued = await tc.call('POST', `/api/fleet/jobs/${String(submitted.body.id)}/agent-credential`, {
      json: { factoryId: 'mcp-agent', leaseEpoch: epoch },
      headers: { 'x-product-id': 'agents' },
    });
    expect(issued.status).toBe(201);
    return { id: submitted.body.id as string, epoch, credential: issued.body.token as string };
  }

  it('serves a job’s agent exactly its allowed commands, each acting on that job, until its lease ends', async () => {
    const { id, credential } = await agentOf(['progress', 'ask']);
    const { client } = await connect('stdio', credential, undefined, tc.url, ['mcp', '--agent']);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['progress', 'ask']);
    expect(tools[1]?.inputSchema.required).toEqual(['question']);

    expect(await ok(client, 'progress', { message: 'tests written' })).toMatchObject({ jobId: id });
    expect(await toolError(client, 'progress', { message: '' })).toContain('message');
    const events = (await tc.call('GET', `/api/jobs/${id}/events`, { headers: { 'x-product-id': 'agents' } })).body as {
      type: string;
      payload: { message?: string };
    }[];
    expect(events.find((e) => e.type === 'agent.progress')?.payload.message).toBe('tests written');

    expect(await ok(client, 'ask', { question: 'Keep the old API?' })).toMatchObject({ jobId: id, stage: 'blocked' });
    // The run ended with the question: the credential is spent.
    expect(await toolError(client, 'progress', { message: 'more' })).toContain('409');
  });

  it('refuses to start with a credential that does not work, saying why', async () => {
    // Not spawnSync: the coordinator it calls runs in this process and must keep answering.
    const run = await new Promise<{ code: number | null; stderr: string }>((done) => {
      execFile(
        process.execPath,
        [BIN, 'mcp', '--agent'],
        { cwd, env: cleanEnv({ CONVEYOR_URL: tc.url, CONVEYOR_TOKEN: tc.tokens.submit }) },
        (error, _stdout, stderr) => {
          done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
        },
      );
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('mcp --agent: a submit token may not make this call');
  });
});
