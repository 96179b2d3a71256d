/**
 * `conveyor demo`: Conveyor end to end on one machine with no network and no keys. Creates the sample
 * repository, starts a coordinator on SQLite with the dashboard, starts two real `conveyor factory`
 * processes, submits the sample jobs (the builtin agent on recorded `replay` transcripts, or a real
 * agent with `--agent`), prints a line per stage change and ends with a summary. One of them is a tool
 * job: a capability request built by the roles, published into the demo's own tool cache, then called.
 */
import { mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/config.js';
import { createToken } from '../coordinator/auth.js';
import { startServer } from '../coordinator/server.js';
import type { JobView } from '../protocol/views.js';
import type { EventType } from '../core/events.js';
import { type ConveyorEvent, DEFAULT_PRODUCT } from '../core/job.js';
import { TERMINAL_STAGES, type Stage } from '../core/stages.js';
import { createLogger } from '../logger.js';
import { runProcess } from '../process/run.js';
import { startProcess, type StartedProcess } from '../process/start.js';
import type { Store } from '../store/store.js';
import { createSampleRepo, linkTsx, SAMPLE_TEST_COMMAND } from './sample-repo.js';
import { SAMPLE_TOOL, SAMPLE_TOOL_REQUEST, sampleJobs, type SampleJob } from './sample-jobs.js';
import {
  callLine,
  callTool,
  type DemoToolCall,
  publishedTool,
  publishLine,
  type PublishedTool,
  ToolJobLines,
} from './tool-job.js';

const BIN = fileURLToPath(new URL('../../bin/conveyor.js', import.meta.url));
const TRANSCRIPTS = fileURLToPath(new URL('./transcripts/', import.meta.url));

export interface DemoOptions {
  /** The environment the coordinator's config is read from and the demo's processes start from. */
  env: Readonly<Record<string, string>>;
  /** Where the sample repository, the database and the factories' workdirs go. @default a new temp folder */
  dir?: string | undefined;
  /** @default 0 (any free port) */
  port: number;
  /** Keep serving (dashboard, coordinator, factories) after the jobs end, until SIGINT or SIGTERM. */
  keep: boolean;
  /** A CLI agent runtime instead of the builtin agent on replays (needs its model endpoint configured). */
  agent?: 'claude-code' | 'codex' | undefined;
  /** Passed to the CLI agent as its model. */
  model?: string | undefined;
  /** Give up waiting for the jobs after this long (the tool job's build alone takes 10-40 s of CPU). @default 600 000 */
  timeoutMs?: number;
  /** Progress lines go here (stderr in the CLI); nothing is written when undefined. */
  progress?: ((line: string) => void) | undefined;
}

export interface DemoJobSummary {
  id: string;
  name: string;
  title: string;
  /** `change` (ships a commit) or `tool` (publishes a tool). */
  kind: 'change' | 'tool';
  stage: Stage;
  pipeline: string;
  agent: string;
  replay: boolean;
  commit: string | null;
  /** What a tool job published. */
  tool: PublishedTool | null;
  /** A change's verify commands; a tool job's last QA and red-team reviews (their cases and attacks run in the sandbox). */
  verify: 'passed' | 'failed' | 'not run';
  inputTokens: number;
  outputTokens: number;
  durationMs: number;
  error: string | null;
}

export interface DemoSummary {
  url: string;
  loginLink: string;
  dir: string;
  sampleRepo: string;
  jobs: DemoJobSummary[];
  allShipped: boolean;
  /** The demo's tool cache (`[tools] cache` of its factories), where the tool job published. */
  toolCache: string;
  /** The published tool called once in the sandbox; null when the tool job did not ship. */
  toolCall: DemoToolCall | null;
  /** The sample repository's own tests on `main` after the demo. */
  sampleTests: 'passed' | 'failed';
  sampleTestOutput: string;
}

function modelsToml(jobs: readonly SampleJob[]): string {
  return jobs
    .map(
      (job) =>
        `[models.${job.name}]\nprovider = "replay"\ntranscript = ${JSON.stringify(join(TRANSCRIPTS, `${job.name}.json`))}\n`,
    )
    .join('\n');
}

function startFactoryProcess(
  dir: string,
  config: string,
  url: string,
  env: Readonly<Record<string, string>>,
  index: number,
): StartedProcess {
  const workdir = join(dir, `factory-${String(index)}`);
  mkdirSync(workdir, { recursive: true });
  return startProcess({
    file: process.execPath,
    args: [
      BIN,
      '--config',
      config,
      'factory',
      '--coordinator',
      url,
      '--workdir',
      workdir,
      '--id',
      `demo-factory-${String(index)}`,
      '--grace-sec',
      '5',
    ],
    cwd: dir,
    env,
    output: openSync(join(dir, `factory-${String(index)}.log`), 'a'),
  });
}

function clock(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const say = options.progress ?? (() => undefined);
  const dir = resolve(options.dir ?? mkdtempSync(join(tmpdir(), 'conveyor-demo-')));
  mkdirSync(dir, { recursive: true });
  const sampleRepo = join(dir, 'sample-calc');
  linkTsx(dir);
  await createSampleRepo(sampleRepo);
  const toolRequestPath = join(dir, `${SAMPLE_TOOL.name}.yaml`);
  writeFileSync(toolRequestPath, SAMPLE_TOOL_REQUEST);
  const toolCache = join(dir, 'tools');
  const jobs = sampleJobs({ repo: sampleRepo, agent: options.agent, model: options.model, toolRequestPath });
  const configPath = join(dir, 'conveyor.toml');
  writeFileSync(
    configPath,
    `# Written by conveyor demo.\n[server]\ndb = ${JSON.stringify(join(dir, '.conveyor', 'conveyor.db'))}\nport = ${String(options.port)}\n\n[agent]\n# The sample's TypeScript tests load tsx from Conveyor's own node_modules, which the sandbox hides when\n# Conveyor lives under a home directory; the replayed commands are our own, recorded ones.\nsandbox = "off"\n\n[tools]\n# The tool job publishes here, not into your own cache (~/.conveyor/tools).\ncache = ${JSON.stringify(toolCache)}\n\n${modelsToml(jobs)}`,
  );
  mkdirSync(join(dir, '.conveyor'), { recursive: true });
  const config = loadConfig({ configPath, cwd: dir, env: { ...options.env, CONVEYOR_ADMIN_TOKEN: '' } });
  const server = await startServer(
    config,
    createLogger({ level: 'warn', format: 'json', destination: join(dir, 'coordinator.log') }),
  );
  const factories: StartedProcess[] = [];
  try {
    const admin =
      server.generatedAdminToken ??
      (await createToken(server.store, { role: 'admin', product: null, label: 'demo' })).secret;
    const factoryToken = (await createToken(server.store, { role: 'factory', product: null, label: 'demo factories' }))
      .secret;
    const loginLink = `${server.url}/login#code=${server.coordinator.loginCodes.issue()}`;
    say(`conveyor demo: sample repository ${sampleRepo}`);
    say(`conveyor demo: dashboard ${server.url}/  (sign in once: ${loginLink})`);
    if (!options.keep) {
      say('conveyor demo: the dashboard stops when the demo ends; run `conveyor demo --keep` to keep it serving');
    }
    // The token goes by environment, not argv (argv is visible to every user of the machine). The tool
    // cache too: a CONVEYOR_TOOLS_CACHE of the caller's would win over the config's [tools] cache.
    const factoryEnv = { ...options.env, CONVEYOR_TOKEN: factoryToken, CONVEYOR_TOOLS_CACHE: toolCache };
    for (const index of [1, 2]) factories.push(startFactoryProcess(dir, configPath, server.url, factoryEnv, index));
    say(`conveyor demo: 2 factories started (logs in ${dir}/factory-N.log)`);
    say(`conveyor demo: capability request ${toolRequestPath}, published into the tool cache ${toolCache}`);

    const ids = new Map<string, SampleJob>();
    for (const job of jobs) {
      const response = await fetch(`${server.url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(job.submission),
      });
      const body = (await response.json()) as Partial<JobView> & { error?: { message?: string } | null };
      if (!response.ok || body.id === undefined) {
        throw new Error(`submitting "${job.name}": ${body.error?.message ?? String(response.status)}`);
      }
      ids.set(body.id, job);
      say(`  ${clock(Date.now())}  ${job.name.padEnd(18)} queued     ${job.label}`);
    }

    await follow(server.store, ids, options.timeoutMs ?? 600_000, say);

    const views: JobView[] = [];
    for (const id of ids.keys()) {
      const response = await fetch(`${server.url}/api/jobs/${id}`, { headers: { authorization: `Bearer ${admin}` } });
      views.push((await response.json()) as JobView);
    }
    // Loading the tool takes seconds (transpile, compile): the sample's tests run meanwhile.
    const [toolCall, tests] = await Promise.all([
      callPublished(views, ids, toolCache, options.env, say),
      runProcess({ command: SAMPLE_TEST_COMMAND, shell: true, cwd: sampleRepo, env: options.env }),
    ]);
    const summary: DemoSummary = {
      url: server.url,
      loginLink,
      dir,
      sampleRepo,
      jobs: views.map((view) => summarize(view, ids.get(view.id) as SampleJob)),
      allShipped: views.every((view) => view.stage === 'shipped'),
      toolCache,
      toolCall,
      sampleTests: tests.exitCode === 0 ? 'passed' : 'failed',
      sampleTestOutput: `${tests.stdoutTail}${tests.stderrTail}`.slice(-4000),
    };
    if (!options.keep) {
      say(
        `conveyor demo: done; stopping the dashboard and factories (\`conveyor demo --keep\` keeps them serving until Ctrl-C; \`conveyor serve --config ${configPath} --open\` shows these jobs again)`,
      );
    }
    if (options.keep) {
      say(`conveyor demo: still serving ${server.url}/ with 2 factories; Ctrl-C to stop`);
      await new Promise<void>((done) => {
        process.once('SIGINT', () => {
          done();
        });
        process.once('SIGTERM', () => {
          done();
        });
      });
    }
    return summary;
  } finally {
    await Promise.all(factories.map((factory) => factory.stop(10_000)));
    await server.close();
  }
}

/** Where a job rests: shipped, or waiting for a person (a failed job with attempts left is requeued instead). */
const RESTING: readonly Stage[] = [...TERMINAL_STAGES, 'blocked', 'quarantined'];

/** Prints a line per event that matters for the demo's jobs until every one rests. */
async function follow(
  store: Store,
  jobs: ReadonlyMap<string, SampleJob>,
  timeoutMs: number,
  say: (line: string) => void,
): Promise<void> {
  const open = new Set(jobs.keys());
  const toolLines = new Map(
    [...jobs].flatMap(([id, job]) => (job.tool === undefined ? [] : [[id, new ToolJobLines(job.tool)] as const])),
  );
  const deadline = Date.now() + timeoutMs;
  let after = 0;
  let wake: (() => void) | undefined;
  const unsubscribe = store.onSignal(() => wake?.());
  try {
    while (open.size > 0) {
      if (Date.now() > deadline) throw new Error(`the demo jobs did not finish within ${String(timeoutMs / 1000)} s`);
      const events = await store.readEvents({ after, limit: 500 });
      for (const event of events) {
        after = Math.max(after, event.seq);
        const job = event.jobId === null ? undefined : jobs.get(event.jobId);
        if (job === undefined || event.jobId === null) continue;
        const tool = toolLines.get(event.jobId);
        const lines = [tool?.line(event) ?? describe(event)];
        // A tool job publishes as it ships: the tool it published goes on the line before.
        if (tool !== undefined && event.type === 'stage.changed' && event.payload.to === 'shipped') {
          const published = publishedTool((await store.getJob(DEFAULT_PRODUCT, event.jobId))?.result);
          if (published !== undefined) lines.unshift(publishLine(published));
        }
        for (const line of lines) {
          if (line !== undefined) say(`  ${clock(event.at)}  ${job.name.padEnd(18)} ${line}`);
        }
      }
      for (const id of open) {
        const stage = (await store.getJob(DEFAULT_PRODUCT, id))?.stage;
        if (stage !== undefined && RESTING.includes(stage)) open.delete(id);
      }
      if (events.length === 0 && open.size > 0) {
        await new Promise<void>((done) => {
          wake = done;
          setTimeout(done, 500);
        });
      }
    }
  } finally {
    unsubscribe();
  }
}

/** Calls the tool the tool job published, once, in the sandbox; null when it did not ship. */
async function callPublished(
  views: readonly JobView[],
  jobs: ReadonlyMap<string, SampleJob>,
  toolCache: string,
  env: Readonly<Record<string, string>>,
  say: (line: string) => void,
): Promise<DemoToolCall | null> {
  const view = views.find((v) => jobs.get(v.id)?.tool !== undefined);
  const published = view?.stage === 'shipped' ? publishedTool(view.result) : undefined;
  if (view === undefined || published === undefined) return null;
  const call = await callTool(toolCache, published, SAMPLE_TOOL.input, env);
  const job = (jobs.get(view.id) as SampleJob).name;
  say(
    `  ${clock(Date.now())}  ${job.padEnd(18)} called     ${callLine(call)} (in the sandbox: ${(call.ms / 1000).toFixed(1)} s, loading it included)`,
  );
  return call;
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function describe(event: ConveyorEvent): string | undefined {
  const p = event.payload;
  switch (event.type as EventType) {
    case 'job.claimed':
      return `assigned   ${text(p.factoryId)} (epoch ${text(event.epoch)})`;
    case 'stage.changed':
      return p.to === undefined
        ? undefined
        : `${text(p.to).padEnd(10)} ${p.to === 'failed' ? text((p.error as { message?: unknown } | undefined)?.message) : ''}`.trimEnd();
    case 'verify.result':
      return `verify     ${text(p.command)} → exit ${text(p.exitCode)}`;
    case 'pipeline.role':
      return `role       ${text(p.role)} ${text(p.status)} (iteration ${text(p.iteration)})`;
    case 'pipeline.iteration': {
      const tickets = Array.isArray(p.tickets) ? (p.tickets as { title?: unknown }[]) : [];
      return `iteration  ${text(p.iteration)}: back to the engineer with ${tickets.map((t) => `"${text(t.title)}"`).join(', ')}`;
    }
    case 'skills.selected': {
      const skills = Array.isArray(p.skills) ? (p.skills as { name?: unknown; tokens?: unknown }[]) : [];
      return `skills     ${skills.map((skill) => `${text(skill.name)} (${text(skill.tokens)} tokens)`).join(', ') || 'none'}`;
    }
    case 'sandbox.unavailable':
      return `notice     no sandbox: ${text(p.message)}`;
    default:
      return undefined;
  }
}

/** A tool job's checks: the last QA and red-team reviews, decided by their runs in the sandbox. */
function toolChecks(runs: readonly { role?: unknown; status?: unknown }[] | undefined): DemoJobSummary['verify'] {
  const last = (role: string): unknown => runs?.findLast((run) => run.role === role)?.status;
  const reviews = [last('qa'), last('red-team')].filter((status) => status !== undefined);
  if (reviews.length === 0) return 'not run';
  return reviews.every((status) => status === 'passed') ? 'passed' : 'failed';
}

function summarize(view: JobView, job: SampleJob): DemoJobSummary {
  const result = (view.result ?? {}) as {
    ship?: { commit?: string | null };
    verify?: { exitCode: number | null; passed?: boolean }[];
    usage?: { inputTokens?: number; outputTokens?: number };
    pipeline?: { runs?: { role?: unknown; status?: unknown }[] };
  };
  const verify = result.verify;
  const tool = job.tool !== undefined;
  return {
    id: view.id,
    name: job.name,
    title: view.title,
    kind: tool ? 'tool' : 'change',
    stage: view.stage,
    pipeline: job.submission.pipeline ?? 'none',
    agent: job.label,
    replay: job.replay,
    commit: result.ship?.commit ?? null,
    tool: (tool ? publishedTool(view.result) : undefined) ?? null,
    verify: tool
      ? toolChecks(result.pipeline?.runs)
      : verify === undefined
        ? 'not run'
        : verify.every((v) => v.passed ?? v.exitCode === 0)
          ? 'passed'
          : 'failed',
    inputTokens: result.usage?.inputTokens ?? 0,
    outputTokens: result.usage?.outputTokens ?? 0,
    durationMs: Date.parse(view.updatedAt) - Date.parse(view.createdAt),
    error: view.error?.message ?? null,
  };
}
