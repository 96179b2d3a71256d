/**
 * The factory benchmark (`npm run bench:factory [-- --quick] [-- --jobs N]`): per-job factory overhead
 * from claim to shipped with a no-op job (agent `true`, verify `true`, ship `merge` into `main` of a
 * local non-bare repository), on a generated 5 000-file and a 50-file repository. The coordinator runs
 * in-process on a fresh SQLite file and listens on 127.0.0.1; the factory runs in-process with one slot
 * and talks to it over HTTP. The first job of each repository (mirror clone) is reported apart and
 * left out of the statistics. A script that prints figures; not a test.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildCoordinator, type Coordinator } from '../src/coordinator/app.js';
import { createToken } from '../src/coordinator/auth.js';
import type { ConveyorEvent } from '../src/core/job.js';
import { startFactory } from '../src/factory/factory.js';
import { FleetClient, httpTransport } from '../src/factory/fleet-client.js';
import { gitSteps } from '../src/factory/git-steps.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { percentile, printSettings, printTable, printTargets } from './report.js';
import { benchArgs, intFlag } from './args.js';

const USAGE = 'usage: npm run bench:factory -- [--quick] [--jobs N]';
const values = benchArgs(USAGE, { quick: { type: 'boolean', default: false }, jobs: { type: 'string' } });
const quick = values.quick;
const jobs = values.jobs === undefined ? (quick ? 10 : 50) : intFlag(values.jobs, '--jobs', USAGE);
const SIZES = [5000, 50];
const FILE_BYTES = 1024;
const TARGET_MS = 300;
const JOB_TIMEOUT_MS = 60_000;

const scratch: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}
function removeScratch(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', removeScratch);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error('\ninterrupted: removing temporary directories');
    removeScratch();
    process.exit(130);
  });

function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=Bench', '-c', 'user.email=bench@localhost', '-c', 'init.defaultBranch=main', ...args],
    { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** A non-bare repository on `main` with `files` files of ~1 KiB in nested directories, one commit. */
function generateRepo(files: number): string {
  const dir = tempDir('conveyor-bench-repo-');
  git(dir, 'init', '--quiet');
  const line = 'const value = "conveyor benchmark filler text";\n';
  const body = line.repeat(Math.ceil(FILE_BYTES / line.length)).slice(0, FILE_BYTES - 40);
  for (let i = 0; i < files; i++) {
    const sub = join(dir, 'src', `pkg${String(i % 20)}`, `mod${String(Math.floor(i / 20) % 25)}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file${String(i)}.ts`), `// file ${String(i)}\n${body}`);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '--quiet', '-m', 'initial');
  return dir;
}

interface JobTiming {
  id: string;
  /** ms from `job.claimed` to each later stage, and to the first checkpoint. */
  total: number;
  phases: Record<string, number>;
}

const PHASES = ['building', 'review', 'testing', 'shipped'] as const;

function timingOf(id: string, events: ConveyorEvent[]): JobTiming | undefined {
  const claimed = events.find((e) => e.type === 'job.claimed');
  const stageAt = (to: string): number | undefined =>
    events.find((e) => e.type === 'stage.changed' && e.payload.to === to)?.at;
  const shipped = stageAt('shipped');
  if (claimed === undefined || shipped === undefined) return undefined;
  const phases: Record<string, number> = {};
  let previous = claimed.at;
  for (const stage of PHASES) {
    const at = stageAt(stage);
    if (at === undefined) continue;
    phases[stage] = at - previous;
    previous = at;
  }
  const checkpoint = events.find((e) => e.type === 'checkpoint.saved');
  if (checkpoint !== undefined) phases['checkpoint (from claim)'] = checkpoint.at - claimed.at;
  return { id, total: shipped - claimed.at, phases };
}

const TERMINAL_BAD = new Set(['failed', 'dead', 'cancelled', 'blocked']);

async function waitShipped(store: Store, id: string): Promise<ConveyorEvent[]> {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  for (;;) {
    const job = await store.getJob('default', id);
    if (job?.stage === 'shipped') return store.jobEvents('default', id);
    if (job !== undefined && TERMINAL_BAD.has(job.stage)) {
      throw new Error(`job ${id} ended ${job.stage}: ${JSON.stringify(await store.jobEvents('default', id))}`);
    }
    if (Date.now() > deadline)
      throw new Error(`job ${id} is still ${job?.stage ?? '?'} after ${String(JOB_TIMEOUT_MS)} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reference: the raw git commands a job's worktree costs, on a bare clone like the factory's mirror (median of 5). */
function rawGit(repo: string): Record<string, number> {
  const dir = tempDir('conveyor-bench-git-');
  const mirror = join(dir, 'mirror.git');
  git(dir, 'clone', '--quiet', '--bare', repo, mirror);
  const samples: Record<string, number[]> = {};
  const time = (name: string, cwd: string, ...args: string[]): void => {
    const start = performance.now();
    git(cwd, ...args);
    (samples[name] ??= []).push(performance.now() - start);
  };
  for (let i = 0; i < 5; i++) {
    const path = join(dir, `wt${String(i)}`);
    time('fetch (mirror)', mirror, 'fetch', '--quiet', '--no-tags', repo, '+refs/heads/main:refs/heads/main');
    time('worktree add', mirror, 'worktree', 'add', '--quiet', '-B', `b${String(i)}`, path, 'main');
    time('add --all', path, 'add', '--all');
    time('status', path, 'status', '--porcelain');
    time('worktree remove', mirror, 'worktree', 'remove', '--force', '--force', path);
  }
  const medians: Record<string, number> = {};
  for (const [name, xs] of Object.entries(samples)) medians[name] = percentile(xs, 50);
  return medians;
}

interface SizeResult {
  files: number;
  rawGit: Record<string, number>;
  firstMs: number;
  samples: JobTiming[];
  wallMs: number;
}

async function measure(files: number): Promise<SizeResult> {
  const genStart = performance.now();
  const repo = generateRepo(files);
  console.error(`generated ${String(files)}-file repository in ${(performance.now() - genStart).toFixed(0)} ms`);
  const dir = tempDir('conveyor-bench-factory-');
  const store = await openStore(join(dir, 'conveyor.db'));
  let coordinator: Coordinator | undefined;
  try {
    coordinator = await buildCoordinator({
      store,
      logger: pino({ level: 'silent' }),
      leaseTtlMs: 30_000,
      heartbeatMs: 10_000,
      maxAttempts: 1,
      retryBaseMs: 2000,
      retryMaxMs: 300_000,
      bodyLimitBytes: 1024 * 1024,
    });
    const url = await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
    const factoryToken = (await createToken(store, { role: 'factory', product: null, label: 'bench' })).secret;
    const submitToken = (await createToken(store, { role: 'submit', product: null, label: 'bench' })).secret;
    const submit = async (n: number): Promise<string> => {
      const response = await fetch(`${url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${submitToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          title: `no-op ${String(n)}`,
          body: 'Do nothing.',
          repo,
          base: 'main',
          agent: { runtime: 'command', run: 'true' },
          verify: ['true'],
          ship: 'merge',
        }),
      });
      const answer = (await response.json()) as { id?: string };
      if (response.status !== 201 || answer.id === undefined) {
        throw new Error(`submit answered ${String(response.status)}: ${JSON.stringify(answer)}`);
      }
      return answer.id;
    };
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
    const workdir = join(dir, 'factory');
    const factory = startFactory({
      client: new FleetClient(httpTransport(url, factoryToken), `bench-${String(files)}`),
      steps: gitSteps({ workdir, defaultRepo: repo, env }),
      capabilities: [],
      slots: 1,
      version: 'bench',
      outboxDir: join(workdir, 'outbox'),
      claimWaitMs: 2000,
      graceMs: 5000,
      once: false,
      log: () => undefined,
      quarantine: () => Promise.resolve(),
    });

    const first = timingOf('warm-up', await waitShipped(store, await submit(0)));
    if (first === undefined) throw new Error('the warm-up job has no claim/shipped events');
    const wallStart = performance.now();
    const samples: JobTiming[] = [];
    // One at a time: each job is submitted after the previous shipped, so nothing queues behind it.
    for (let n = 1; n <= jobs; n++) {
      const id = await submit(n);
      const timing = timingOf(id, await waitShipped(store, id));
      if (timing === undefined) throw new Error(`job ${id} has no claim/shipped events`);
      samples.push(timing);
    }
    const wallMs = performance.now() - wallStart;
    factory.drain('benchmark done');
    await factory.done;
    const commits = git(repo, 'rev-list', '--count', 'main').trim();
    console.error(`${String(files)} files: main has ${commits} commits after ${String(jobs + 1)} jobs`);
    return { files, rawGit: rawGit(repo), firstMs: first.total, samples, wallMs };
  } finally {
    await coordinator?.close();
    await store.close();
  }
}

const started = performance.now();
printSettings('Conveyor factory benchmark', [
  ['mode', quick ? 'quick' : 'default'],
  ['jobs per repository', `1 warm-up (mirror clone, reported apart) + ${String(jobs)} measured`],
  ['repositories', SIZES.map((s) => `${s.toLocaleString('en-US')} files`).join(', ') + ` of ~1 KiB, nested dirs`],
  ['job', "agent: command `true`, verify: ['true'], ship: merge into main of a local non-bare repo"],
  ['measured', 'job.claimed → stage.changed(shipped), event times from store.jobEvents'],
  ['factory', 'in-process, 1 slot, once: false, FleetClient over HTTP; jobs submitted one at a time'],
  ['coordinator', 'in-process, fresh SQLite file in a temp dir, listening on 127.0.0.1:0'],
  [
    'machine',
    `${cpus().length.toString()} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`,
  ],
  ['git', execFileSync('git', ['--version'], { encoding: 'utf8' }).trim()],
]);

const results: SizeResult[] = [];
for (const files of SIZES) results.push(await measure(files));

const median = (xs: number[]): number => percentile(xs, 50);
printTable(
  'Per-job overhead, claim → shipped (ms)',
  ['repository', 'first job', 'jobs', 'median', 'p95', 'min', 'max', 'jobs/s'],
  results.map((r) => {
    const totals = r.samples.map((s) => s.total);
    return [
      `${r.files.toLocaleString('en-US')} files`,
      r.firstMs,
      totals.length,
      median(totals),
      percentile(totals, 95),
      Math.min(...totals),
      Math.max(...totals),
      (totals.length / r.wallMs) * 1000,
    ];
  }),
);
const phaseNames = [...PHASES.map((p) => `→ ${p}`), 'checkpoint (from claim)'];
printTable(
  'Breakdown: median ms between consecutive events (claimed → building → review → testing → shipped)',
  ['repository', ...phaseNames],
  results.map((r) => [
    `${r.files.toLocaleString('en-US')} files`,
    ...[...PHASES, 'checkpoint (from claim)'].map((p) =>
      median(r.samples.map((s) => s.phases[p]).filter((v): v is number => v !== undefined)),
    ),
  ]),
);

const rawNames = Object.keys(results[0]?.rawGit ?? {});
printTable(
  'Reference: raw git on the same repository, median of 5 (ms)',
  ['repository', ...rawNames],
  results.map((r) => [`${r.files.toLocaleString('en-US')} files`, ...rawNames.map((n) => r.rawGit[n] ?? Number.NaN)]),
);

const big = results.find((r) => r.files === 5000);
const bigMedian = big === undefined ? Number.NaN : median(big.samples.map((s) => s.total));
printTargets([
  { name: 'median claim → shipped, 5 000 files', actual: bigMedian, goal: TARGET_MS, better: 'lower', unit: 'ms' },
]);
const pass = bigMedian <= TARGET_MS;
const margin = ((1 - bigMedian / TARGET_MS) * 100).toFixed(1);
console.log(
  `\nTarget: ≤ ${String(TARGET_MS)} ms median on 5 000 files → ${pass ? 'PASS' : 'MISS'} (${Math.round(bigMedian).toString()} ms, margin ${Number(margin) >= 0 ? '+' : ''}${margin}%)`,
);
console.log(`\nTotal run time ${((performance.now() - started) / 1000).toFixed(1)} s`);
removeScratch();
