/**
 * The tool cache over MCP, as an MCP client uses it: the real `conveyor mcp` child process with a cache
 * holding `examples/tools/slugify` (built by `conveyor tool build`), the SDK's `Client` over stdio.
 * Promoting a version makes it an MCP tool of its own (the list-changed notification says so), whose
 * calls run in the sandbox; `request_capability` files a tool job.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { type CallToolResult, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN } from './helpers/factory-process.js';

const SLUGIFY = resolve(import.meta.dirname, '..', 'examples', 'tools', 'slugify');

describe('the tool cache over MCP', { timeout: 300_000 }, () => {
  let tc: TestCoordinator;
  let client: Client;
  let cache: string;
  let listChanged = 0;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite');
    const root = mkdtempSync(join(tmpdir(), 'conveyor-mcp-tools-'));
    cache = join(root, 'tools');
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('CONVEYOR_') && value !== undefined) env[key] = value;
    }
    env.CONVEYOR_TOOLS_CACHE = cache;
    const built = await new Promise<{ code: number; stderr: string }>((done) => {
      execFile(process.execPath, [BIN, 'tool', 'build', SLUGIFY], { cwd: root, env }, (error, _out, stderr) => {
        done({ code: error === null ? 0 : 1, stderr });
      });
    });
    expect(built.code, built.stderr).toBe(0);
    client = new Client({ name: 'conveyor-test', version: '1.0.0' });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged++;
    });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp'],
        cwd: root,
        env: { ...env, CONVEYOR_URL: tc.url, CONVEYOR_TOKEN: tc.tokens.submit },
        stderr: 'pipe',
      }),
    );
  }, 300_000);
  afterAll(async () => {
    await client.close();
    await tc.close();
  });

  const call = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;

  it('lists the cache, promotes a version into a tool of its own, and runs it in the sandbox', async () => {
    const names = async (): Promise<string[]> => (await client.listTools()).tools.map((t) => t.name);
    expect(await names()).not.toContain('slugify');
    const listed = await call('list_tools', {});
    expect(listed.structuredContent).toMatchObject({
      tools: [{ name: 'slugify', version: '0.1.0', promoted: false, wasmDigest: expect.stringMatching(/^sha256:/) }],
    });

    const refused = await call('promote_tool', { name: 'slugify', version: '9.9.9' });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain('no version 9.9.9 of tool \\"slugify\\" in the cache');
    const promoted = await call('promote_tool', { name: 'slugify', version: '0.1.0' });
    expect(promoted.isError, JSON.stringify(promoted.content)).not.toBe(true);
    expect(promoted.structuredContent).toMatchObject({ name: 'slugify', promoted: true });
    await expect.poll(() => listChanged).toBeGreaterThan(0);

    const tools = (await client.listTools()).tools;
    const slugify = tools.find((t) => t.name === 'slugify');
    expect(slugify?.inputSchema).toMatchObject({ type: 'object', required: ['text'] });
    expect(slugify?.outputSchema).toMatchObject({ type: 'object', required: ['slug'] });
    const ran = await call('slugify', { text: 'Hello from MCP!' });
    expect(ran.isError).not.toBe(true);
    expect(ran.structuredContent).toEqual({ slug: 'hello-from-mcp' });
    const bad = await call('slugify', { txt: 'x' });
    expect(bad.isError).toBe(true);
    expect(JSON.stringify(bad.content)).toContain('invalid_input: input.txt: not allowed');
  });

  it('files a capability request as a tool job on the hardened pipeline', async () => {
    const filed = await call('request_capability', {
      name: 'csv-to-json',
      description: 'Turns CSV text into a JSON array of objects.',
      inputs: { csv: 'string' },
      outputs: { rows: 'array' },
      agent: { runtime: 'claude-code' },
    });
    expect(filed.isError, JSON.stringify(filed.content)).not.toBe(true);
    expect(filed.structuredContent).toMatchObject({
      kind: 'tool',
      pipeline: 'hardened',
      repo: null,
      source: 'mcp',
      agent: { runtime: 'claude-code' },
      title: 'Capability request: csv-to-json',
    });
    const bad = await call('request_capability', { name: 'x' });
    expect(bad.isError).toBe(true);
    expect(JSON.stringify(bad.content)).toContain('description');
  });
});
