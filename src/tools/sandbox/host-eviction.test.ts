import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../policy.js';
import { ToolHost } from './host.js';
import type { ToolBundle, ToolCallResult } from './types.js';
import { ATTACK_TOOL, cachedBuild, UPPER_TOOL, type CachedBuild } from './test-tools.js';

function output(result: ToolCallResult): unknown {
  if (!result.ok) throw new Error(`expected an output, got ${result.error.code}: ${result.error.message}`);
  return JSON.parse(result.output);
}

function keyOf(tool: ToolBundle): string {
  return `${tool.name}@${tool.version}:${tool.wasmPath}`;
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const still = Symbol('pending');
  const timer = new Promise((resolve) => {
    setTimeout(() => {
      resolve(still);
    }, ms);
  });
  return (await Promise.race([promise, timer])) === still;
}

describe('ToolHost with a bounded number of warm workers', () => {
  let upper: CachedBuild;
  let attack: CachedBuild;
  /** Holds every request until the test answers it: a call in flight that costs no CPU. */
  let server: Server;
  let port: number;
  const held = new Map<string, ServerResponse>();
  const arrivals = new Map<string, () => void>();

  beforeAll(async () => {
    // Built one after the other (each is cached by digest): two builds at once only share two cores.
    upper = await cachedBuild(UPPER_TOOL, parsePolicy('version: "1.0"', 'policy.yaml'));
    attack = await cachedBuild(
      ATTACK_TOOL,
      parsePolicy(
        'version: "1.0"\npermissions:\n  network: { allow: [{ host: 127.0.0.1 }] }\n  environment: { allow: [{ key: GRANTED_KEY }] }',
        'policy.yaml',
      ),
    );
    server = createServer((request, response) => {
      const path = request.url ?? '';
      held.set(path, response);
      arrivals.get(path)?.();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }, 600_000);

  afterAll(() => {
    for (const response of held.values()) response.end();
    server.close();
  });

  const upperTool = (name: string): ToolBundle => ({
    name,
    version: '1.0.0',
    wasmPath: upper.wasmPath,
    policy: parsePolicy('version: "1.0"', 'policy.yaml'),
    env: {},
  });

  /** A tool whose call waits on the held server at `path` until the test answers it. */
  function heldCall(host: ToolHost, name: string, path: string): { tool: ToolBundle; result: Promise<ToolCallResult> } {
    const tool: ToolBundle = {
      name,
      version: '1.0.0',
      wasmPath: attack.wasmPath,
      policy: parsePolicy(
        `version: "1.0"\npermissions:\n  network: { allow: [{ host: "127.0.0.1:${String(port)}" }] }\nresources: { timeoutMs: 60000 }`,
        'policy.yaml',
      ),
      env: {},
    };
    const url = `http://127.0.0.1:${String(port)}${path}`;
    return { tool, result: host.call(tool, JSON.stringify({ action: 'fetch', url })) };
  }

  function arrived(path: string): Promise<void> {
    return new Promise((resolve) => arrivals.set(path, resolve));
  }

  function release(path: string, body: string): void {
    held.get(path)?.end(body);
    held.delete(path);
  }

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new ToolHost({ maxWarmWorkers: 0 })).toThrow(RangeError);
    expect(() => new ToolHost({ maxWarmWorkers: 1.5 })).toThrow(/maxWarmWorkers must be an integer ≥ 1/);
  });

  it('evicts the least recently used tool, which answers again in a new worker', async () => {
    const evicted: unknown[] = [];
    const host = new ToolHost({
      maxWarmWorkers: 2,
      log: (msg, fields) => {
        if (msg === 'tool worker evicted') evicted.push(fields);
      },
    });
    const [a, b, c] = [upperTool('a'), upperTool('b'), upperTool('c')] as const;
    try {
      expect(output(await host.call(a, '{"text":"a"}'))).toEqual({ text: 'A' });
      expect(output(await host.call(b, '{"text":"b"}'))).toEqual({ text: 'B' });
      // `a` used again: `b` is now the least recently used.
      expect(output(await host.call(a, '{"text":"a again"}'))).toEqual({ text: 'A AGAIN' });
      expect(host.stats().warm.map((warm) => warm.tool)).toEqual([keyOf(b), keyOf(a)]);

      expect(output(await host.call(c, '{"text":"c"}'))).toEqual({ text: 'C' });
      expect(evicted).toEqual([{ tool: keyOf(b), for: keyOf(c) }]);
      expect(host.stats()).toMatchObject({
        maxWarmWorkers: 2,
        warm: [
          { tool: keyOf(a), busy: false },
          { tool: keyOf(c), busy: false },
        ],
        workersStarted: 3,
        evictions: 1,
      });

      // The evicted tool starts again (from the transpile cache) and answers; `a` makes room.
      expect(output(await host.call(b, '{"text":"b is back"}'))).toEqual({ text: 'B IS BACK' });
      expect(evicted).toEqual([
        { tool: keyOf(b), for: keyOf(c) },
        { tool: keyOf(a), for: keyOf(b) },
      ]);
      expect(host.stats()).toMatchObject({ workersStarted: 4, evictions: 2 });
      expect(host.stats().warm.map((warm) => warm.tool)).toEqual([keyOf(c), keyOf(b)]);
    } finally {
      await host.close();
    }
  });

  it('never evicts a tool with a call in flight, even the least recently used', async () => {
    const evicted: unknown[] = [];
    const host = new ToolHost({
      maxWarmWorkers: 2,
      log: (msg, fields) => {
        if (msg === 'tool worker evicted') evicted.push(fields);
      },
    });
    const [a, b] = [upperTool('a'), upperTool('b')] as const;
    try {
      const inGuest = arrived('/slow');
      const slow = heldCall(host, 'slow', '/slow');
      await inGuest;
      expect(output(await host.call(a, '{"text":"a"}'))).toEqual({ text: 'A' });
      // `slow` is the least recently used, but busy: `a` goes.
      expect(output(await host.call(b, '{"text":"b"}'))).toEqual({ text: 'B' });
      expect(evicted).toEqual([{ tool: keyOf(a), for: keyOf(b) }]);
      expect(host.stats().warm).toEqual([
        { tool: keyOf(slow.tool), busy: true },
        { tool: keyOf(b), busy: false },
      ]);

      release('/slow', 'finally');
      expect(output(await slow.result)).toEqual({ status: 200, body: 'finally' });
      expect(host.stats().warm).toEqual([
        { tool: keyOf(slow.tool), busy: false },
        { tool: keyOf(b), busy: false },
      ]);
    } finally {
      await host.close();
    }
  });

  it('makes a call wait while every warm tool is busy, and ends the wait on abort', async () => {
    const logged: string[] = [];
    const host = new ToolHost({ maxWarmWorkers: 1, log: (msg) => logged.push(msg) });
    const [a, b] = [upperTool('a'), upperTool('b')] as const;
    try {
      const inGuest = arrived('/busy');
      const busy = heldCall(host, 'busy', '/busy');
      await inGuest;

      const controller = new AbortController();
      const abandoned = host.call(b, '{"text":"b"}', { signal: controller.signal });
      const waiting = host.call(a, '{"text":"a"}');
      expect(await pendingAfter(waiting, 500)).toBe(true);
      expect(logged).toContain('tool call waits for a worker');
      controller.abort();
      expect(await abandoned).toMatchObject({
        ok: false,
        error: { code: 'timeout', message: 'aborted by the caller' },
      });
      expect(host.stats()).toMatchObject({ warm: [{ tool: keyOf(busy.tool), busy: true }], workersStarted: 1 });

      release('/busy', 'done');
      expect(output(await busy.result)).toEqual({ status: 200, body: 'done' });
      expect(output(await waiting)).toEqual({ text: 'A' });
      expect(host.stats()).toMatchObject({ warm: [{ tool: keyOf(a), busy: false }], workersStarted: 2, evictions: 1 });
    } finally {
      await host.close();
    }
  });
});
