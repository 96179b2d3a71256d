/**
 * The tool runtime benchmark (`npm run bench:tools [-- --calls N] [--tools N] [--rounds N] [--max-warm N]`):
 *
 * 1. Memory (first, in a process that has built nothing): one `ToolHost` with the default configuration
 *    (or `--max-warm`) holding N tools: each called once, then all N called again round-robin, `--rounds`
 *    times. With N above `maxWarmWorkers`, the least recently used tool is always the next one called,
 *    so every round-robin call finds its tool evicted and restarts it (a new worker, compile,
 *    instantiate): their p50 is the cost of a restart. RSS before, after the first pass, after the round
 *    robin (the target) and the peak (sampled every 50 ms). The N tools are copies of one build, each
 *    with its own memory limit so each core module's bytes differ and V8 cannot share their compiled
 *    code; the transpiled form is copied beside each copy, as for a tool transpiled before on this
 *    machine (a transpile is measured in 4).
 * 2. Build: `buildComponent` of a small pure tool (componentize-js; wall time, the machine's load beside it).
 * 3. Warm call: one call at a time on the warm instance, after a warm-up; p50 inside the worker (the
 *    call as the worker runs it: input parsed, guest run, output parsed) and the round trip seen by the
 *    caller (postMessage there and back). The target is the in-worker figure.
 * 4. Fresh call: `fresh: true`, a new instance per call from the worker's compiled modules; p50 both
 *    ways. Also the first call of a new build (transpile, compile, instantiate) and of a new host.
 *
 * A script that prints figures; not a test.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildComponent } from '../src/tools/build.js';
import { parsePolicy } from '../src/tools/policy.js';
import { DEFAULT_MAX_WARM_WORKERS, ToolHost } from '../src/tools/sandbox/host.js';
import type { ToolBundle } from '../src/tools/sandbox/types.js';
import { cachedBuild, UPPER_TOOL } from '../src/tools/sandbox/test-tools.js';
import { load, percentile, printSettings, printTable, printTargets } from './report.js';
import { benchArgs, intFlag } from './args.js';

const USAGE = 'usage: npm run bench:tools -- [--calls N] [--tools N] [--rounds N] [--max-warm N]';
const values = benchArgs(USAGE, {
  calls: { type: 'string', default: '2000' },
  tools: { type: 'string', default: '20' },
  rounds: { type: 'string', default: '2' },
  'max-warm': { type: 'string', default: String(DEFAULT_MAX_WARM_WORKERS) },
});
const calls = intFlag(values.calls, '--calls', USAGE, 10);
const toolCount = intFlag(values.tools, '--tools', USAGE);
const rounds = intFlag(values.rounds, '--rounds', USAGE);
const maxWarmWorkers = intFlag(values['max-warm'], '--max-warm', USAGE);

const WARMUP = 100;
const MB = 2 ** 20;

printSettings('bench:tools', [
  ['machine', `${String(cpus().length)} CPUs, load average ${load()}`],
  ['calls', String(calls)],
  ['tools held', String(toolCount)],
  ['round-robin rounds', String(rounds)],
  ['maxWarmWorkers', `${String(maxWarmWorkers)}${maxWarmWorkers === DEFAULT_MAX_WARM_WORKERS ? ' (the default)' : ''}`],
  [
    'code',
    import.meta.url.endsWith('.ts')
      ? 'TypeScript sources through tsx (a tool worker runs its module bundled by esbuild)'
      : 'compiled JavaScript',
  ],
]);

const dir = await mkdtemp(join(tmpdir(), 'conveyor-bench-tools-'));
const pure = parsePolicy('version: "1.0"', 'policy.yaml');
const input = JSON.stringify({ text: 'hello world' });

// 1 first, before anything else has run in this process (a build's child leaves a little behind).
const cached = await cachedBuild(UPPER_TOOL, pure);
const rssBefore = process.memoryUsage().rss;
let rssPeak = rssBefore;
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
}, 50);
const holder = new ToolHost({ maxWarmWorkers });
const tools: ToolBundle[] = [];
for (let i = 0; i < toolCount; i++) {
  const path = join(dir, `tool-${String(i)}`, 'tool.wasm');
  await cp(cached.wasmPath, path);
  await cp(join(dirname(cached.wasmPath), '.jco'), join(dirname(path), '.jco'), { recursive: true });
  tools.push({
    name: `tool-${String(i)}`,
    version: '1.0.0',
    wasmPath: path,
    policy: parsePolicy(`version: "1.0"\nresources: { memoryMb: ${String(64 + i)} }`, 'policy.yaml'),
    env: {},
  });
}

/** Calls each tool once, in order; the round trips of the calls that started a worker. */
async function callEach(): Promise<number[]> {
  const restartedMs: number[] = [];
  for (const each of tools) {
    const startedBefore = holder.stats().workersStarted;
    const result = await holder.call(each, input);
    if (!result.ok) throw new Error(`${each.name} failed: ${result.error.code}: ${result.error.message}`);
    if (holder.stats().workersStarted > startedBefore) restartedMs.push(result.ms);
  }
  return restartedMs;
}

const firstLoadMs = await callEach();
const rssFirstPass = process.memoryUsage().rss;
const restartMs: number[] = [];
const roundRobinCalls = toolCount * rounds;
for (let round = 0; round < rounds; round++) restartMs.push(...(await callEach()));
const rssHolding = process.memoryUsage().rss;
clearInterval(sampler);
const held = holder.stats();
await holder.close();

// 2. Build (a comment makes the source new, though componentize keeps no cache of its own).
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

// 3. Warm.
await sample(WARMUP, false);
const warm = await sample(calls, false);
// 4. Fresh.
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
    [
      `first call of each of the ${String(toolCount)} tools (transpile cached)`,
      firstLoadMs.length,
      Number.NaN,
      percentile(firstLoadMs, 50),
      percentile(firstLoadMs, 99),
    ],
    [
      'restarted call (its tool evicted: new worker, compile, instantiate)',
      restartMs.length,
      Number.NaN,
      percentile(restartMs, 50),
      percentile(restartMs, 99),
    ],
  ],
);

printTable(
  `memory: one host holding ${String(toolCount)} tools, maxWarmWorkers ${String(maxWarmWorkers)} (MB)`,
  ['what', 'RSS'],
  [
    ['this process before loading', rssBefore / MB],
    ['each tool called once', rssFirstPass / MB],
    [`then ${String(roundRobinCalls)} calls round-robin (the target)`, rssHolding / MB],
    ['peak (sampled every 50 ms)', rssPeak / MB],
  ],
);
console.log(
  `  workers started ${String(held.workersStarted)}, evicted ${String(held.evictions)}; ` +
    `restarts in the round robin: ${String(restartMs.length)} of ${String(roundRobinCalls)} calls`,
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
  {
    name: `RSS holding ${String(toolCount)} tools (maxWarmWorkers ${String(maxWarmWorkers)})`,
    actual: rssHolding / MB,
    goal: 300,
    better: 'lower',
    unit: 'MB',
  },
]);
