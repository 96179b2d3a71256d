/**
 * The `tools` command: a job's agent gets the coordinator's promoted tools (its `[tools] cache`), each
 * call run in the coordinator's sandbox, over `/api/agent/tools` with the job's agent credential; the
 * same cache is served over the coordinator's `/mcp`. Real parts: `examples/tools/slugify` built by
 * `conveyor tool build` into a cache, a coordinator on loopback, a real factory running the builtin
 * agent (answering from a replay transcript), the SDK's MCP client over streamable HTTP.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { startModelServer } from '../src/model-server/server.js';
import { ToolCache } from '../src/tools/cache.js';
import { CLI_PATH, localModelConfig, replayConfig } from './helpers/agent-configs.js';
import { BIN, useFactoryFleet } from './helpers/factory-process.js';
import { makeRepo } from './helpers/git-repo.js';

const SLUGIFY = resolve(import.meta.dirname, '..', 'examples', 'tools', 'slugify');
const root = mkdtempSync(join(tmpdir(), 'conveyor-agent-tools-'));
const cacheDir = join(root, 'tools');

interface Event {
  type: string;
  payload: Record<string, unknown>;
}

describe('the tools command and the coordinator’s tool cache', { timeout: 300_000 }, () => {
  // 30 s leases: the first call of a tool transpiles it, which can outlast a short lease on a busy machine.
  const fleet = useFactoryFleet({ tools: { cacheDir, env: {} } });

  beforeAll(async () => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('CONVEYOR_') && value !== undefined) env[key] = value;
    }
    const built = await new Promise<{ code: number; stderr: string }>((done) => {
      execFile(
        process.execPath,
        [BIN, 'tool', 'build', SLUGIFY],
        { cwd: root, env: { ...env, CONVEYOR_TOOLS_CACHE: cacheDir } },
        (error, _out, stderr) => {
          done({ code: error === null ? 0 : 1, stderr });
        },
      );
    });
    expect(built.code, built.stderr).toBe(0);
    new ToolCache(cacheDir).promote('slugify', '0.1.0');
  }, 300_000);

  /** Submits a job allowing `commands` and claims it over HTTP as factory f1. */
  async function claimed(commands: string[]): Promise<{ id: string; epoch: number }> {
    const submitted = await fleet.tc.call('POST', '/api/jobs', {
      json: { body: 'Name the page.', repo: 'https://git.example/app.git', allowedCommands: commands },
    });
    expect(submitted.status).toBe(201);
    for (;;) {
      const claim = await fleet.tc.call('POST', '/api/fleet/claim', {
        token: fleet.tc.tokens.factory,
        json: { factoryId: 'f1', capabilities: [] },
      });
      expect(claim.status).toBe(200);
      if (claim.body.job.id === submitted.body.id) return { id: claim.body.job.id, epoch: claim.body.leaseEpoch };
      await fleet.tc.call('POST', `/api/jobs/${String(claim.body.job.id)}/cancel`, { json: {} });
    }
  }
  const credential = async (id: string, epoch: number): Promise<Record<string, unknown>> => {
    const issued = await fleet.tc.call('POST', `/api/fleet/jobs/${id}/agent-credential`, {
      token: fleet.tc.tokens.factory,
      json: { factoryId: 'f1', leaseEpoch: epoch },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    return issued.body as Record<string, unknown>;
  };
  const eventsOf = async (id: string): Promise<Event[]> =>
    (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as Event[];

  it('lists the promoted tools to a credential allowing tools and runs each call in the sandbox', async () => {
    const { id, epoch } = await claimed(['tools']);
    const issued = await credential(id, epoch);
    expect(issued.tools).toEqual([
      expect.objectContaining({ name: 'slugify', version: '0.1.0', inputSchema: expect.any(Object) }),
    ]);
    const token = issued.token as string;
    const listed = await fleet.tc.call('GET', '/api/agent/tools', { token });
    expect(listed.status).toBe(200);
    expect((listed.body as { tools: { name: string }[] }).tools.map((tool) => tool.name)).toEqual(['slugify']);

    const called = await fleet.tc.call('POST', '/api/agent/tools/slugify', {
      token,
      json: { input: { text: 'Crème Brûlée Recipes' } },
    });
    expect(called.status, JSON.stringify(called.body)).toBe(200);
    expect(called.body).toEqual({ ok: true, output: { slug: 'creme-brulee-recipes' } });

    // Input the tool's schema refuses is the tool's answer, naming the field, not an HTTP error.
    const bad = await fleet.tc.call('POST', '/api/agent/tools/slugify', { token, json: { input: { text: 7 } } });
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    expect(bad.body.error.message).toContain('text');

    const unknown = await fleet.tc.call('POST', '/api/agent/tools/no-such-tool', { token, json: { input: {} } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('no promoted tool no-such-tool');
    const badName = await fleet.tc.call('POST', '/api/agent/tools/..%2Fetc', { token, json: { input: {} } });
    expect(badName.status).toBe(400);

    const calls = (await eventsOf(id)).filter((event) => event.type === 'agent.tool_called');
    expect(calls.map((event) => event.payload)).toEqual([
      { name: 'slugify', ok: true },
      { name: 'slugify', ok: false, error: 'invalid_input' },
    ]);
    await fleet.tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} });
  });

  it('refuses and records the tools of a job that does not allow them', async () => {
    const { id, epoch } = await claimed(['progress']);
    const issued = await credential(id, epoch);
    expect(issued.tools).toBeUndefined();
    const token = issued.token as string;
    for (const [method, path] of [
      ['GET', '/api/agent/tools'],
      ['POST', '/api/agent/tools/slugify'],
    ] as const) {
      const refused = await fleet.tc.call(method, path, {
        token,
        ...(method === 'POST' ? { json: { input: {} } } : {}),
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toContain('tools is not one of them');
    }
    const refusals = (await eventsOf(id)).filter((event) => event.type === 'agent.command_refused');
    expect(refusals.map((event) => event.payload.command)).toEqual(['tools', 'tools']);
    expect((await eventsOf(id)).some((event) => event.type === 'agent.tool_called')).toBe(false);
    await fleet.tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} });
  });

  it('serves the promoted tools over /mcp, and promote_tool to admins only', async () => {
    const connect = async (token: string): Promise<Client> => {
      const client = new Client({ name: 'conveyor-test', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL('/mcp', fleet.tc.url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      return client;
    };
    const submitter = await connect(fleet.tc.tokens.submit);
    const admin = await connect(fleet.tc.tokens.admin);
    try {
      const names = async (client: Client): Promise<string[]> => (await client.listTools()).tools.map((t) => t.name);
      expect(await names(submitter)).toEqual(expect.arrayContaining(['submit_job', 'list_tools', 'slugify']));
      expect(await names(submitter)).not.toContain('promote_tool');
      expect(await names(admin)).toContain('promote_tool');
      const slug = (await submitter.callTool({
        name: 'slugify',
        arguments: { text: 'Hello MCP World' },
      })) as CallToolResult;
      expect(slug.isError, JSON.stringify(slug.content)).not.toBe(true);
      expect(slug.structuredContent).toEqual({ slug: 'hello-mcp-world' });
    } finally {
      await submitter.close();
      await admin.close();
    }
  });

  it('gives the builtin agent each promoted tool as a tool of its own, through a real factory', async () => {
    const config = replayConfig([
      {
        expect: ['Write the page’s slug'],
        toolCalls: [{ name: 'slugify', input: { text: 'Über Uns — Contact' } }],
      },
      {
        expect: ['uber-uns-contact'],
        toolCalls: [{ name: 'write', input: { path: 'slug.txt', content: 'uber-uns-contact\n' } }],
      },
      { expect: ['slug.txt'], text: 'Wrote slug.txt.' },
    ]);
    const repo = makeRepo({ 'README.md': '# Site\n' });
    const submitted = await fleet.tc.call('POST', '/api/jobs', {
      json: {
        title: 'Slug',
        body: 'Write the page’s slug into slug.txt.',
        repo,
        agent: { runtime: 'builtin', model: 'replayed' },
        allowedCommands: ['tools'],
        ship: 'branch',
      },
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const id = submitted.body.id as string;
    const factory = fleet.spawn({ id: 'agent-tools', args: ['--once', '--config', config] });
    await factory.exited;
    const job = (await fleet.tc.call('GET', `/api/jobs/${id}`)).body;
    expect(job.stage, factory.log()).toBe('shipped');
    const events = await eventsOf(id);
    expect(events.filter((e) => e.type === 'agent.tool_called').map((e) => e.payload)).toEqual([
      { name: 'slugify', ok: true },
    ]);
    expect(factory.log()).not.toMatch(/cvy_[\w-]{20,}/);
    expect(JSON.stringify(events)).not.toMatch(/cvy_[\w-]{20,}/);
  });

  it('gives Claude Code each promoted tool through the conveyor MCP server, and only with tools allowed', async () => {
    const server = await startModelServer({
      script: {
        model: 'claude-scripted',
        turns: [
          {
            expect: ['Find the slug'],
            toolCalls: [{ name: 'mcp__conveyor__slugify', input: { text: 'Hello Claude Tools' } }],
            usage: { inputTokens: 120, outputTokens: 30 },
          },
          {
            expect: ['hello-claude-tools'],
            toolCalls: [{ name: 'mcp__conveyor__progress', input: { message: 'the slug is hello-claude-tools' } }],
            usage: { inputTokens: 150, outputTokens: 30 },
          },
          { text: 'Done.', usage: { inputTokens: 180, outputTokens: 5 } },
        ],
      },
      log: () => undefined,
    });
    try {
      const config = localModelConfig(server.url);
      const submitted = await fleet.tc.call('POST', '/api/jobs', {
        json: {
          title: 'Slug for Claude',
          body: 'Find the slug of the title Hello Claude Tools.',
          repo: makeRepo({ 'notes.txt': 'old\n' }),
          agent: { runtime: 'claude-code', model: 'local' },
          allowedCommands: ['tools', 'progress'],
          constraints: { timeoutSec: 120 },
        },
      });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
      const id = submitted.body.id as string;
      const factory = fleet.spawn({
        id: 'agent-tools-claude',
        args: ['--once', '--config', config],
        env: {
          LOCAL_MODEL_KEY: 'sk-agent-tools-sentinel-9c1d',
          PATH: CLI_PATH,
        },
      });
      await factory.exited;
      const events = await eventsOf(id);
      expect(
        events.filter((e) => e.type === 'agent.tool_called').map((e) => e.payload),
        factory.log(),
      ).toEqual([{ name: 'slugify', ok: true }]);
      expect(events.find((e) => e.type === 'agent.progress')?.payload.message).toBe('the slug is hello-claude-tools');
      // Claude Code was offered the promoted tool by name, and nothing leaked the credential.
      const offered = JSON.stringify(server.requests);
      expect(offered).toContain('mcp__conveyor__slugify');
      expect(offered).not.toContain('mcp__conveyor__ask');
      expect(offered).not.toMatch(/cvy_[\w-]{20,}/);
      expect(factory.log()).not.toMatch(/cvy_[\w-]{20,}/);
    } finally {
      await server.close();
    }
  }, 180_000);
});
