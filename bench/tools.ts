/**
 * The tool runtime benchmark (`npm run bench:tools [-- --calls N] [-- --tools N]`):
 *
 * 1. Build: `buildComponent` of a small pure tool (componentize-js; wall time, the machine's load beside it).
 * 2. Warm call: one call at a time on the warm instance, after a warm-up; p50 inside the worker (the
 *    call as the worker runs it: input parsed, guest run, output parsed) and the round trip seen by the
 *    caller (postMessage there and back). The target is the in-worker figure.
 * 3. Fresh call: `fresh: true`, a new instance per call from the kept compiled modules; p50 both ways.
 * 4. Memory (measured first, before any build): RSS of this process holding N loaded tools (each in its worker, instantiated and called
 *    once). The N tools are copies of one build, each with its own memory limit so each core module's
 *    bytes differ and V8 cannot share their compiled code.
 *
 * A script that prints figures; not a test.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildComponent } from '../src/tools/build.js';
import { parsePolicy } from '../src/tools/policy.js';
import { ToolHost } from '../src/tools/sandbox/host.js';
import type { ToolBundle } from '../src/tools/sandbox/types.js';
import { cachedBuild, UPPER_TOOL } from '../src/tools/sandbox/test-tools.js';
import { percentile, printSettings, printTable, printTargets } from './report.js';

const USAGE = 'usage: npm run bench:tools -- [--calls N] [--tools N]';
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { calls: { type: 'string', default: '2000' }, tools: { type: 'string', default: '20' } },
});
const calls = Number(values.calls);
const toolCount = Number(values.tools);
if (!Number.isInteger(calls) || calls < 10) throw new Error(`--calls must be an integer ≥ 10\n${USAGE}`);
if (!Number.isInteger(toolCount) || toolCount < 1) throw new Error(`--tools must be a positive integer\n${USAGE}`);

const WARMUP = 100;
const MB = 2 ** 20;

printSettings('bench:tools', [
  [
    'machine',
    `${String(cpus().length)} CPUs, load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  ],
  ['calls', String(calls)],
  ['tools held', String(toolCount)],
]);

const dir = await mkdtemp(join(tmpdir(), 'conveyor-bench-tools-'));
const pure = parsePolicy('version: "1.0"', 'policy.yaml');
const input = JSON.stringify({ text: 'hello world' });

// 4 first, in a process that has built nothing yet: componentize leaves hundreds of MB behind.
const cached = await cachedBuild(UPPER_TOOL, pure);
// 4. Memory: N tools loaded, each instantiated and called once.
const rssBefore = process.memoryUsage().rss;
const holder = new ToolHost();
const tools: ToolBundle[] = [];
for (let i = 0; i < toolCount; i++) {
  const path = join(dir, `tool-${String(i)}`, 'tool.wasm');
  await cp(cached.wasmPath, path);
  tools.push({
    name: `tool-${String(i)}`,
    version: '1.0.0',
    wasmPath: path,
    policy: parsePolicy(`version: "1.0"\nresources: { memoryMb: ${String(64 + i)} }`, 'policy.yaml'),
    env: {},
  });
}
for (const each of tools) {
  const result = await holder.call(each, input);
  if (!result.ok) throw new Error(`${each.name} failed: ${result.error.code}: ${result.error.message}`);
}
const rssHolding = process.memoryUsage().rss;
await holder.close();

// 1. Build (a comment makes the source new, though componentize keeps no cache of its own).
const buildStarted = performance.now();
const built = await buildComponent(`${UPPER_TOOL}// bench ${String(Date.now())}\n`, pure);
const buildMs = performance.now() - buildStarted;
const wasmPath = join(dir, 'upper', 'tool.wasm');
await writeFile(join(dir, 'upper.wasm'), built.wasm);
await cp(join(dir, 'upper.wasm'), wasmPath);

const tool: ToolBundle = { name: 'upper', version: '1.0.0', wasmPath, policy: pure, env: {} };

let lastWorkerMs = Number.NaN;
const host = new ToolHost({
  log: (msg, fields) => {
    if (msg === 'tool call') lastWorkerMs = (fields as { workerMs: number }).workerMs;
  },
});

// First calls: transpile + compile + instantiate, then the same in a new host (transpile cached on disk).
const firstStarted = performance.now();
const first = await host.call(tool, input);
if (!first.ok) throw new Error(`the tool failed: ${first.error.code}: ${first.error.message}`);
const firstMs = performance.now() - firstStarted;
const second = new ToolHost();
const cachedStarted = performance.now();
await second.call(tool, input);
const cachedFirstMs = performance.now() - cachedStarted;
await second.close();

async function sample(count: number, fresh: boolean): Promise<{ host: number[]; worker: number[] }> {
  const hostMs: number[] = [];
  const workerMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const result = await host.call(tool, input, { fresh });
    if (!result.ok) throw new Error(`call failed: ${result.error.code}: ${result.error.message}`);
    hostMs.push(result.ms);
    workerMs.push(lastWorkerMs);
  }
  return { host: hostMs, worker: workerMs };
}

// 2. Warm.
await sample(WARMUP, false);
const warm = await sample(calls, false);
// 3. Fresh.
const freshCount = Math.max(10, Math.floor(calls / 10));
await sample(10, true);
const fresh = await sample(freshCount, true);
await host.close();

printTable(
  'calls (ms)',
  ['what', 'n', 'p50 in worker', 'p50 round trip', 'p99 round trip'],
  [
    ['warm instance', calls, percentile(warm.worker, 50), percentile(warm.host, 50), percentile(warm.host, 99)],
    [
      'fresh instance',
      freshCount,
      percentile(fresh.worker, 50),
      percentile(fresh.host, 50),
      percentile(fresh.host, 99),
    ],
    ['first call (transpile, compile, instantiate)', 1, Number.NaN, firstMs, Number.NaN],
    ['first call, new host (transpile cached)', 1, Number.NaN, cachedFirstMs, Number.NaN],
  ],
);

printTable(
  'memory (MB)',
  ['what', 'RSS'],
  [
    ['this process before loading', rssBefore / MB],
    [`holding ${String(toolCount)} loaded tools`, rssHolding / MB],
    ['per tool', (rssHolding - rssBefore) / MB / toolCount],
  ],
);
await rm(dir, { recursive: true, force: true });

printTargets([
  { name: 'build a tool', actual: buildMs / 1000, goal: 15, better: 'lower', unit: 's' },
  { name: 'warm call p50 (in worker)', actual: percentile(warm.worker, 50), goal: 1, better: 'lower', unit: 'ms' },
  {
    name: 'fresh-instance call p50 (round trip)',
    actual: percentile(fresh.host, 50),
    goal: 20,
    better: 'lower',
    unit: 'ms',
  },
  { name: `RSS holding ${String(toolCount)} tools`, actual: rssHolding / MB, goal: 300, better: 'lower', unit: 'MB' },
]);
