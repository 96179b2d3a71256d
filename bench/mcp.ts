/**
 * The MCP benchmark (`npm run bench:mcp [-- --calls N] [-- --starts N]`), against an in-process
 * coordinator on a fresh SQLite file (HTTP on 127.0.0.1):
 *
 * 1. Start-up: `conveyor mcp` spawned as an MCP client spawns it (`node bin/conveyor.js mcp`, through
 *    `dist/` when it is current, else tsx), an `initialize` request written to its stdin at once; the time from the spawn to the answer
 *    on its stdout. Sequential starts, p50 reported against the goal. Beside it, the CPU time (user +
 *    system, all threads) the process had used by then, read from `/proc`: on a loaded machine the
 *    wall time is mostly waiting for a CPU, and the CPU time is what an idle machine would wait for.
 * 2. `tools/call` of `get_job` over stdio with the SDK's `Client` (which also checks each answer
 *    against the tool's output schema), one call at a time after a warm-up: p50 against the goal.
 *    For comparison, no goal: the same over `/mcp` (streamable HTTP, a fresh server per request), and
 *    the REST call `get_job` makes (`GET /api/jobs/:id` with fetch from this process).
 * 3. `tools/call` of a cached tool on its warm instance: `examples/tools/slugify` built into a fresh tool
 *    cache (`conveyor tool build`, not timed), promoted with `promote_tool`, then called over stdio one
 *    call at a time after a warm-up (the first call starts its worker): p50 against the goal.
 *
 * A script that prints figures; not a test. The machine's load average is printed with them.
 */
import { execFile, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { compiledIsCurrent } from '../bin/source-stamp.js';
import { startBenchCoordinator } from './coordinator.js';
import { cpuMsOf } from './cpu.js';
import { load, percentile, printSettings, printTable, printTargets } from './report.js';
import { benchArgs, intFlag } from './args.js';

const USAGE = 'usage: npm run bench:mcp -- [--calls N] [--starts N]';
const values = benchArgs(USAGE, {
  calls: { type: 'string', default: '1000' },
  starts: { type: 'string', default: '10' },
});
const calls = intFlag(values.calls, '--calls', USAGE, 10);
const starts = intFlag(values.starts, '--starts', USAGE);

const BIN = resolve(import.meta.dirname, '..', 'bin', 'conveyor.js');
const CALL_TARGET_MS = 5;
const TOOL_CALL_TARGET_MS = 2;
const SLUGIFY = resolve(import.meta.dirname, '..', 'examples', 'tools', 'slugify');
const START_TARGET_MS = 500;
const WARMUP = 50;

/** Our environment without any `CONVEYOR_*` setting, plus `extra`. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CONVEYOR_') && value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Spawns `conveyor mcp`, sends `initialize` at once, and resolves with the ms until its answer arrives (wall and CPU). */
function timeToInitialize(env: Record<string, string>, cwd: string): Promise<{ wallMs: number; cpuMs: number }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'mcp'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`conveyor mcp did not answer initialize within 30 s; stderr:\n${stderr}`));
    }, 30_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!stdout.includes('\n')) return;
      const elapsed = performance.now() - started;
      const cpuMs = cpuMsOf(child.pid);
      clearTimeout(timer);
      const answer = JSON.parse(stdout.split('\n')[0] ?? '') as { result?: { serverInfo?: { name?: string } } };
      if (answer.result?.serverInfo?.name !== 'conveyor') fail(new Error(`unexpected answer: ${stdout}`));
      child.stdin.end();
      child.once('exit', () => {
        done({ wallMs: elapsed, cpuMs });
      });
    });
    child.stdin.write(
      `${JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
      })}\n`,
    );
  });
}

/** Calls tool `name` `count` times one after the other (after a warm-up) and returns each call's ms. */
async function timeCalls(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  count: number,
): Promise<number[]> {
  const once = async (): Promise<void> => {
    const result = await client.callTool({ name, arguments: args });
    if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  };
  for (let i = 0; i < WARMUP; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  return samples;
}

const bench = await startBenchCoordinator('mcp');
const { dir, url } = bench;
const clients: Client[] = [];
try {
  const token = await bench.token('submit');
  const env = childEnv({ CONVEYOR_URL: url, CONVEYOR_TOKEN: token });
  const compiled = compiledIsCurrent() ? 'dist/, compiled' : 'src/ through tsx: run npm run build:cli';
  printSettings('MCP benchmark', [
    ['machine', `${String(cpus().length)} CPUs, load average ${load()} (1, 5, 15 min)`],
    ['coordinator', `in this process, SQLite, ${url}`],
    ['start-up', `${String(starts)} sequential starts of node bin/conveyor.js mcp (${compiled}), initialize → answer`],
    ['calls', `${String(calls)} sequential tools/call get_job per transport after ${String(WARMUP)} warm-up calls`],
    ['cached tool', `${String(calls)} sequential tools/call of slugify (examples/tools/slugify, promoted) over stdio`],
  ]);

  const startSamples: number[] = [];
  const startCpuSamples: number[] = [];
  for (let i = 0; i < starts; i++) {
    const { wallMs, cpuMs } = await timeToInitialize(env, dir);
    startSamples.push(wallMs);
    startCpuSamples.push(cpuMs);
  }

  const stdio = new Client({ name: 'bench', version: '1' });
  clients.push(stdio);
  const stdioTransport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], cwd: dir, env });
  await stdio.connect(stdioTransport);
  const submitted = await stdio.callTool({
    name: 'submit_job',
    arguments: { title: 'Bench', body: 'Benchmark me.', repo: 'https://git.example.com/bench.git' },
  });
  if (submitted.isError === true) throw new Error(`submit_job failed: ${JSON.stringify(submitted.content)}`);
  const id = (submitted.structuredContent as { id: string }).id;
  for (let i = 0; i < WARMUP; i++) await stdio.callTool({ name: 'get_job', arguments: { id } });
  // CPU the calls cost, apart from waiting: the server process's, and this one's (client and coordinator).
  const serverCpuBefore = cpuMsOf(stdioTransport.pid ?? undefined);
  const ownCpuBefore = process.cpuUsage();
  const stdioSamples = await timeCalls(stdio, 'get_job', { id }, calls);
  const serverCpuPerCall = (cpuMsOf(stdioTransport.pid ?? undefined) - serverCpuBefore) / (calls + WARMUP);
  const ownCpu = process.cpuUsage(ownCpuBefore);
  const ownCpuPerCall = (ownCpu.user + ownCpu.system) / 1000 / (calls + WARMUP);

  const http = new Client({ name: 'bench', version: '1' });
  clients.push(http);
  await http.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  const httpSamples = await timeCalls(http, 'get_job', { id }, calls);

  const restSamples: number[] = [];
  const rest = async (): Promise<void> => {
    const response = await fetch(`${url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`GET /api/jobs/${id}: ${String(response.status)}`);
    await response.json();
  };
  for (let i = 0; i < WARMUP; i++) await rest();
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await rest();
    restSamples.push(performance.now() - started);
  }

  // A cached tool: built into a cache of its own, promoted, and called on its warm instance.
  const cache = join(dir, 'tools');
  process.stderr.write('building examples/tools/slugify into a fresh tool cache…\n');
  const built = await new Promise<string | undefined>((done) => {
    execFile(
      process.execPath,
      [BIN, 'tool', 'build', SLUGIFY],
      { cwd: dir, env: { ...env, CONVEYOR_TOOLS_CACHE: cache } },
      (error, _out, stderr) => {
        done(error === null ? undefined : stderr);
      },
    );
  });
  if (built !== undefined) throw new Error(`conveyor tool build failed:\n${built}`);
  const withCache = new Client({ name: 'bench', version: '1' });
  clients.push(withCache);
  await withCache.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp'],
      cwd: dir,
      env: { ...env, CONVEYOR_TOOLS_CACHE: cache },
    }),
  );
  const promoted = await withCache.callTool({ name: 'promote_tool', arguments: { name: 'slugify', version: '0.1.0' } });
  if (promoted.isError === true) throw new Error(`promote_tool failed: ${JSON.stringify(promoted.content)}`);
  const toolSamples = await timeCalls(withCache, 'slugify', { text: 'Crème brûlée à la carte' }, calls);

  const row = (name: string, samples: number[]): (string | number)[] => [
    name,
    samples.length,
    percentile(samples, 50),
    percentile(samples, 95),
    percentile(samples, 99),
    Math.max(...samples),
  ];
  printTable(
    'Timings (ms)',
    ['measure', 'n', 'p50', 'p95', 'p99', 'max'],
    [
      row('conveyor mcp: start → initialize answered (wall)', startSamples),
      row('conveyor mcp: CPU time used by then (all threads)', startCpuSamples),
      row('tools/call get_job over stdio', stdioSamples),
      row('tools/call get_job over /mcp (HTTP)', httpSamples),
      row('tools/call slugify (cached tool, warm) over stdio', toolSamples),
      row('REST GET /api/jobs/:id (fetch, for comparison)', restSamples),
    ],
  );
  printSettings('CPU time per get_job call over stdio (ms; the rest of the latency is waiting)', [
    ['conveyor mcp process', serverCpuPerCall.toFixed(2)],
    ['this process: MCP client and coordinator', ownCpuPerCall.toFixed(2)],
  ]);
  printTargets([
    {
      name: 'tools/call get_job over stdio, p50',
      actual: percentile(stdioSamples, 50),
      goal: CALL_TARGET_MS,
      better: 'lower',
      unit: 'ms',
    },
    {
      name: 'tools/call of a cached tool (warm), p50',
      actual: percentile(toolSamples, 50),
      goal: TOOL_CALL_TARGET_MS,
      better: 'lower',
      unit: 'ms',
    },
    {
      name: 'conveyor mcp ready for initialize, p50',
      actual: percentile(startSamples, 50),
      goal: START_TARGET_MS,
      better: 'lower',
      unit: 'ms',
    },
  ]);
} finally {
  await Promise.all(clients.map((client) => client.close()));
  await bench.close();
}
