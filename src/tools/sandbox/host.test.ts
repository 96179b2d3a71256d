import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy, type ToolPolicy } from '../policy.js';
import { ToolHost } from './host.js';
import type { ToolBundle, ToolCallResult } from './types.js';
import { ATTACK_TOOL, cachedBuild, UPPER_TOOL, type CachedBuild } from './test-tools.js';

const BUILD_POLICY = parsePolicy(
  'version: "1.0"\npermissions:\n  network: { allow: [{ host: 127.0.0.1 }] }\n  environment: { allow: [{ key: GRANTED_KEY }] }',
  'policy.yaml',
);

function failure(result: ToolCallResult): { code: string; message: string } {
  if (result.ok) throw new Error(`expected a failure, got ${result.output}`);
  return result.error;
}

function output(result: ToolCallResult): unknown {
  if (!result.ok) throw new Error(`expected an output, got ${result.error.code}: ${result.error.message}`);
  return JSON.parse(result.output);
}

describe('ToolHost', () => {
  let upper: CachedBuild;
  let attack: CachedBuild;
  let server: Server;
  let port: number;
  let otherServer: Server;
  let otherPort: number;
  const host = new ToolHost();
  const logs: { msg: string; fields?: object }[] = [];
  const loggedHost = new ToolHost({ log: (msg, fields) => logs.push({ msg, ...(fields ? { fields } : {}) }) });

  beforeAll(async () => {
    // Built one after the other: two componentize runs at once only share the same two cores.
    upper = await cachedBuild(UPPER_TOOL, parsePolicy('version: "1.0"', 'policy.yaml'));
    attack = await cachedBuild(ATTACK_TOOL, BUILD_POLICY);
    // The granted host: a loopback server in this (the main) thread; the guest's fetch blocks only its worker.
    server = createServer((request, response) => response.end(`hello from ${request.url ?? ''}`));
    otherServer = createServer((_request, response) => response.end('secret'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => otherServer.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    otherPort = (otherServer.address() as AddressInfo).port;
  }, 600_000);

  afterAll(async () => {
    await host.close();
    await loggedHost.close();
    server.close();
    otherServer.close();
  });

  function attackTool(
    overrides: Partial<ToolBundle> = {},
    resources = 'resources: { timeoutMs: 3000, memoryMb: 64 }',
  ): ToolBundle {
    const policy: ToolPolicy = parsePolicy(
      `version: "1.0"
permissions:
  network: { allow: [{ host: "127.0.0.1:${String(port)}" }] }
  environment: { allow: [{ key: GRANTED_KEY }] }
${resources}`,
      'policy.yaml',
    );
    return {
      name: 'attack',
      version: '1.0.0',
      wasmPath: attack.wasmPath,
      policy,
      env: { GRANTED_KEY: 'granted-value', SECRET_KEY: 'must-not-leak', HOME: '/root' },
      ...overrides,
    };
  }

  async function stillWorks(tool: ToolBundle): Promise<void> {
    expect(output(await host.call(tool, JSON.stringify({ action: 'echo', text: 'still here' })))).toEqual({
      text: 'still here',
    });
  }

  describe('a well-behaved tool', () => {
    const inputSchema = {
      type: 'object',
      properties: { text: { type: 'string' } },
      required: ['text'],
      additionalProperties: false,
    };
    const tool = (): ToolBundle => ({
      name: 'upper',
      version: '1.0.0',
      wasmPath: upper.wasmPath,
      policy: parsePolicy('version: "1.0"', 'policy.yaml'),
      inputSchema,
      outputSchema: { type: 'object', properties: { text: { type: 'string', pattern: '^[A-Z ]*$' } } },
      env: {},
    });

    it('is built importing nothing and exporting run', () => {
      expect(upper.imports).toEqual([]);
      expect(upper.exports).toEqual(['run']);
    });

    it('answers, warm and fresh', async () => {
      expect(output(await host.call(tool(), '{"text":"hello"}'))).toEqual({ text: 'HELLO' });
      expect(output(await host.call(tool(), '{"text":"again"}'))).toEqual({ text: 'AGAIN' });
      expect(output(await host.call(tool(), '{"text":"fresh"}', { fresh: true }))).toEqual({ text: 'FRESH' });
    });

    it('refuses input that does not match its schema, naming the field, before the guest runs', async () => {
      const wrongType = failure(await host.call(tool(), '{"text":5}'));
      expect(wrongType.code).toBe('invalid_input');
      expect(wrongType.message).toMatch(/^input\.text: /);
      const missing = failure(await host.call(tool(), '{}'));
      expect(missing).toMatchObject({ code: 'invalid_input' });
      expect(missing.message).toContain('text');
      expect(failure(await host.call(tool(), 'not json'))).toMatchObject({ code: 'invalid_input' });
    });

    it('refuses output that does not match its schema', async () => {
      const result = failure(await host.call(tool(), '{"text":"ok 123"}'));
      expect(result.code).toBe('invalid_output');
      expect(result.message).toMatch(/^output\.text: /);
    });

    it('cuts a hostile pattern in a schema with the timeout, and the next call works', async () => {
      const hostile: ToolBundle = {
        ...tool(),
        policy: parsePolicy('version: "1.0"\nresources: { timeoutMs: 1000 }', 'policy.yaml'),
        inputSchema: { type: 'object', properties: { text: { type: 'string', pattern: '^(a+)+$' } } },
      };
      await host.call(hostile, '{"text":"warm"}');
      const started = performance.now();
      const result = failure(await host.call(hostile, JSON.stringify({ text: `${'a'.repeat(40)}!` })));
      expect(result.code).toBe('timeout');
      expect(performance.now() - started).toBeLessThan(5000);
      expect(output(await host.call(tool(), '{"text":"after"}'))).toEqual({ text: 'AFTER' });
    });

    it('reports a missing component as load_failed', async () => {
      const result = failure(await host.call({ ...tool(), wasmPath: '/nonexistent/tool.wasm' }, '{"text":"x"}'));
      expect(result.code).toBe('load_failed');
    });
  });

  describe('escapes', () => {
    it('reaches a granted loopback host', async () => {
      const url = `http://127.0.0.1:${String(port)}/ping`;
      expect(output(await host.call(attackTool(), JSON.stringify({ action: 'fetch', url })))).toEqual({
        status: 200,
        body: 'hello from /ping',
      });
    });

    it('refuses a host not granted (another port of loopback, a public host) with denied', async () => {
      for (const url of [`http://127.0.0.1:${String(otherPort)}/`, 'http://example.com/']) {
        const result = failure(await host.call(attackTool(), JSON.stringify({ action: 'fetch', url })));
        expect(result.code).toBe('denied');
        expect(result.message).toContain(new URL(url).host);
        expect(result.message).not.toContain('secret');
        await stillWorks(attackTool());
      }
    });

    it('shows no host file: /etc/passwd and $HOME are out of reach', async () => {
      const result = failure(
        await host.call(attackTool(), JSON.stringify({ action: 'read-file', path: '/etc/passwd' })),
      );
      expect(result.code).toBe('denied');
      expect(result.message).toContain('file:///etc/passwd');
      expect(result.message).not.toContain('root:');
      await stillWorks(attackTool());
      const home = output(await host.call(attackTool(), JSON.stringify({ action: 'env', key: 'HOME' })));
      expect(home).toEqual({ value: null, keys: ['GRANTED_KEY'] });
    });

    it('shows a granted env key and hides every other one, even when the caller passes it', async () => {
      expect(output(await host.call(attackTool(), JSON.stringify({ action: 'env', key: 'GRANTED_KEY' })))).toEqual({
        value: 'granted-value',
        keys: ['GRANTED_KEY'],
      });
      expect(output(await host.call(attackTool(), JSON.stringify({ action: 'env', key: 'SECRET_KEY' })))).toEqual({
        value: null,
        keys: ['GRANTED_KEY'],
      });
      const ungranted = attackTool({ policy: parsePolicy('version: "1.0"', 'policy.yaml') });
      expect(output(await host.call(ungranted, JSON.stringify({ action: 'env', key: 'GRANTED_KEY' })))).toEqual({
        value: null,
        keys: [],
      });
    });

    it('stops a guest spinning forever with timeout, from outside', async () => {
      const tool = attackTool({}, 'resources: { timeoutMs: 1000 }');
      await stillWorks(tool);
      const started = performance.now();
      const result = failure(await host.call(tool, JSON.stringify({ action: 'spin' })));
      expect(result.code).toBe('timeout');
      expect(performance.now() - started).toBeLessThan(4000);
      await stillWorks(tool);
    });

    it('stops a guest allocating 2 GB at its memory limit', async () => {
      const result = failure(await host.call(attackTool(), JSON.stringify({ action: 'alloc' })));
      expect(result.code).toBe('memory');
      expect(result.message).toContain('64 MB');
      await stillWorks(attackTool());
    });

    it('ends a guest throwing a non-string with trap, and one throwing a string with tool_error', async () => {
      expect(failure(await host.call(attackTool(), JSON.stringify({ action: 'throw-object' })))).toMatchObject({
        code: 'trap',
      });
      await stillWorks(attackTool());
      expect(failure(await host.call(attackTool(), JSON.stringify({ action: 'throw-string', text: 'no' })))).toEqual({
        code: 'tool_error',
        message: 'refused: no',
      });
      await stillWorks(attackTool());
    });

    it('ends a call when the caller aborts, and logs each call', async () => {
      const controller = new AbortController();
      const pending = loggedHost.call(attackTool(), JSON.stringify({ action: 'spin' }), { signal: controller.signal });
      setTimeout(() => {
        controller.abort();
      }, 300);
      expect(failure(await pending)).toEqual({ code: 'timeout', message: 'aborted by the caller' });
      expect(output(await loggedHost.call(attackTool(), JSON.stringify({ action: 'echo', text: 'x' })))).toEqual({
        text: 'x',
      });
      expect(logs.map((entry) => entry.msg)).toContain('tool call');
    });
  });
});
