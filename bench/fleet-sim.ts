/**
 * `npm run bench:fleet`: a fleet simulator (issue 12, "fleet scale"). `--factories` simulated factories
 * (default 2,000) against one `conveyor serve` child process, each heartbeating every `--heartbeat-sec`
 * (default 10, first beats spread over one interval) and holding one parked long-poll claim (re-parked
 * on 204); while they are parked, `--jobs` jobs flow, submitted one at a time every `--interval-ms`:
 * each is claimed by whichever parked factory wakes first, which reports it building → review →
 * testing → shipped under its lease and parks again.
 *
 * Figures: heartbeat latency (p50, p99; timed once every factory has parked, over at least one full
 * heartbeat round), wake-up (from the submission's start to the claim's answer
 * carrying that job, the same measure as `bench:core`), the coordinator's RSS peak, and its open file
 * descriptors and `/metrics` gauges of parked claims and shutdown listeners before the fleet arrives and
 * after it has gone: a leak is a count that does not come back.
 * Options: `--backend sqlite|postgres` (default sqlite).
 */
import { readdirSync } from 'node:fs';
import { Pool } from 'undici';
import { parsePrometheus, total } from '../test/helpers/prometheus.js';
import { removeScratchDirs } from './conveyor-store.js';
import { HEALTHZ_P99_MS, type LoadedCoordinator, RSS_MB, send, startLoadedCoordinator } from './parked-load.js';
import { startPostgres } from './postgres-server.js';
import { load, percentile, printSettings, printTable, printTargets } from './report.js';
import { benchArgs, choiceFlag, intFlag, usageError } from './args.js';
import { sleep } from './timing.js';

const USAGE =
  'usage: npm run bench:fleet -- [--backend sqlite|postgres] [--factories N] [--heartbeat-sec S] [--jobs N] [--interval-ms MS]';
const values = benchArgs(USAGE, {
  backend: { type: 'string', default: 'sqlite' },
  factories: { type: 'string', default: '2000' },
  'heartbeat-sec': { type: 'string', default: '10' },
  jobs: { type: 'string', default: '300' },
  'interval-ms': { type: 'string', default: '50' },
});
const FACTORIES = intFlag(values.factories, '--factories', USAGE);
const HEARTBEAT_MS = Number(values['heartbeat-sec']) * 1000;
const JOBS = intFlag(values.jobs, '--jobs', USAGE);
const INTERVAL_MS = Number(values['interval-ms']);
const BACKEND = choiceFlag(values.backend, '--backend', ['sqlite', 'postgres'], USAGE);
// Either may be a fraction.
for (const [name, value] of [
  ['--heartbeat-sec', HEARTBEAT_MS],
  ['--interval-ms', INTERVAL_MS],
] as const) {
  if (!Number.isFinite(value) || value <= 0) usageError(`${name} must be a positive number`, USAGE);
}
const WAKE_TARGET_MS = 4;
const STAGES = ['building', 'review', 'testing', 'shipped'] as const;

interface Held {
  fds: number;
  parked: number;
  listeners: number;
}

/**
 * Claims with `factoryId` through `pool`; a job it gets (`onClaimed` as the answer arrives) is reported
 * through to shipped. Its id, if any.
 */
async function claimAndShip(
  pool: Pool,
  c: LoadedCoordinator,
  factoryId: string,
  waitMs: number,
  onClaimed: (jobId: string) => void = () => undefined,
): Promise<string | undefined> {
  const claim = await send(pool, c, '/api/fleet/claim', c.tokens.factory, {
    factoryId,
    capabilities: ['node'],
    waitMs,
  });
  if (claim.status !== 200) return undefined;
  const { job, leaseEpoch } = claim.body as { job: { id: string }; leaseEpoch: number };
  onClaimed(job.id);
  for (const stage of STAGES) {
    await send(pool, c, `/api/fleet/jobs/${job.id}`, c.tokens.factory, { factoryId, stage, leaseEpoch }, 'PATCH');
  }
  return job.id;
}

/** What the coordinator holds open: its file descriptors (from /proc) and its /metrics gauges. */
async function held(c: LoadedCoordinator, pool: Pool): Promise<Held> {
  const answer = await pool.request({ method: 'GET', path: '/metrics', headers: c.headers(c.tokens.admin) });
  const samples = parsePrometheus(await answer.body.text());
  return {
    fds: readdirSync(`/proc/${String(c.serve.child.pid)}/fd`).length,
    parked: total(samples, 'conveyor_parked_claims'),
    listeners: total(samples, 'conveyor_shutdown_listeners'),
  };
}

async function main(): Promise<void> {
  printSettings('Fleet simulator (issue 12: fleet scale)', [
    ['backend', BACKEND],
    [
      'factories',
      `${String(FACTORIES)}, each one heartbeat every ${String(HEARTBEAT_MS / 1000)} s and one parked claim`,
    ],
    ['jobs', `${String(JOBS)}, one every ${String(INTERVAL_MS)} ms, each shipped by the factory that claims it`],
    ['load average at start', load()],
  ]);
  const pgServer = BACKEND === 'postgres' ? await startPostgres(process.env.CONVEYOR_BENCH_PG_URL) : undefined;
  const c = await startLoadedCoordinator(BACKEND, pgServer, 0);
  const control = new Pool(c.serve.url, { connections: 4 });
  const fleet = new Pool(c.serve.url, {
    connections: 2 * FACTORIES + 50,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  try {
    // One job through its whole life first, so what the coordinator opens once (the database's WAL
    // file on its first write) is in the count before the fleet arrives.
    const warmUp = await send(control, c, '/api/jobs', c.tokens.submit, {
      title: 'warm-up',
      body: 'noop',
      repo: 'https://git.example/sim.git',
    });
    if (warmUp.status !== 201) throw new Error(`POST /api/jobs answered ${String(warmUp.status)}`);
    if ((await claimAndShip(control, c, 'sim-warm-up', 0)) === undefined)
      throw new Error('the warm-up job was not claimed');
    const before = await held(c, control);
    const heartbeats: number[] = [];
    const claimedAt = new Map<string, number>();
    let heartbeatErrors = 0;
    let stopping = false;
    // Heartbeats are timed once every factory has parked (the ramp's burst is not the steady state).
    let measuring = false;
    // Read through a call: a loop that tested `stopping` would otherwise take it for still false.
    const stopped = (): boolean => stopping;
    const post = (path: string, body: unknown, token: string) => send(fleet, c, path, token, body);
    const factories = Array.from({ length: FACTORIES }, (_, i) => {
      const factoryId = `sim-${String(i)}`;
      const beat = async (): Promise<void> => {
        await sleep((HEARTBEAT_MS * i) / FACTORIES);
        while (!stopping) {
          const started = performance.now();
          const answer = await post(
            '/api/fleet/factories/heartbeat',
            { factoryId, capabilities: ['node'], health: 'ok', load: 0, slots: 1, version: 'sim' },
            c.tokens.factory,
          ).catch(() => undefined);
          if (answer?.status === 200) {
            if (measuring) heartbeats.push(performance.now() - started);
          } else if (!stopped()) heartbeatErrors++;
          await sleep(HEARTBEAT_MS - (performance.now() - started));
        }
      };
      const work = async (): Promise<void> => {
        while (!stopping) {
          // The claim's answer is timed when it arrives, before the reports that ship the job.
          await claimAndShip(fleet, c, factoryId, 30_000, (id) => {
            claimedAt.set(id, performance.now());
          }).catch(() => undefined);
        }
      };
      return Promise.all([beat(), work()]);
    });
    // Every factory heartbeats once and parks before the jobs flow.
    const rampStarted = Date.now();
    while ((await held(c, control)).parked < FACTORIES && Date.now() - rampStarted < 120_000) await sleep(500);
    const parkedMs = Date.now() - rampStarted;
    measuring = true;
    c.rss.reset();
    const submittedAt = new Map<string, number>();
    for (let i = 0; i < JOBS; i++) {
      const started = performance.now();
      const answer = await post(
        '/api/jobs',
        { title: `sim ${String(i)}`, body: 'noop', repo: 'https://git.example/sim.git' },
        c.tokens.submit,
      );
      if (answer.status !== 201) throw new Error(`POST /api/jobs answered ${String(answer.status)}`);
      submittedAt.set((answer.body as { id: string }).id, started);
      await sleep(INTERVAL_MS - (performance.now() - started));
    }
    // At least one full heartbeat round under the parked fleet.
    await sleep(Math.max(2000, HEARTBEAT_MS - JOBS * INTERVAL_MS));
    const during = await held(c, control);
    const rssPeakMb = c.rss.peakMb;
    const wakes = [...submittedAt].flatMap(([id, at]) => {
      const claimed = claimedAt.get(id);
      return claimed === undefined ? [] : [claimed - at];
    });
    stopping = true;
    await fleet.destroy().catch(() => undefined);
    await Promise.allSettled(factories);
    await sleep(3000);
    const after = await held(c, control);

    printTable(
      'Figures (ms; RSS in MB)',
      ['measure', 'n', 'p50', 'p95', 'p99', 'max'],
      [
        [
          'heartbeat',
          heartbeats.length,
          percentile(heartbeats, 50),
          percentile(heartbeats, 95),
          percentile(heartbeats, 99),
          Math.max(...heartbeats),
        ],
        [
          'wake-up (submit → claim answered)',
          wakes.length,
          percentile(wakes, 50),
          percentile(wakes, 95),
          percentile(wakes, 99),
          Math.max(...wakes),
        ],
      ],
    );
    printTable(
      'What the coordinator holds (before the fleet, with it parked, after it left)',
      ['count', 'before', 'during', 'after'],
      [
        ['open file descriptors', before.fds, during.fds, after.fds],
        ['parked claims (/metrics)', before.parked, during.parked, after.parked],
        ['shutdown listeners (/metrics)', before.listeners, during.listeners, after.listeners],
      ],
    );
    printSettings('Run', [
      ['all factories parked after', `${String(parkedMs)} ms`],
      ['jobs claimed', `${String(wakes.length)} of ${String(JOBS)}`],
      ['heartbeat errors', String(heartbeatErrors)],
      ['RSS peak while jobs flowed', `${rssPeakMb.toFixed(0)} MB`],
      ['load average at end', load()],
    ]);
    printTargets([
      { name: 'heartbeat p99', actual: percentile(heartbeats, 99), goal: HEALTHZ_P99_MS, better: 'lower', unit: 'ms' },
      { name: 'wake-up p50', actual: percentile(wakes, 50), goal: WAKE_TARGET_MS, better: 'lower', unit: 'ms' },
      { name: 'coordinator RSS peak', actual: rssPeakMb, goal: RSS_MB, better: 'lower', unit: 'MB' },
      { name: 'open fds after − before', actual: after.fds - before.fds, goal: 0, better: 'lower', unit: '' },
      {
        name: 'parked claims after − before',
        actual: after.parked - before.parked,
        goal: 0,
        better: 'lower',
        unit: '',
      },
      {
        name: 'shutdown listeners after − before',
        actual: after.listeners - before.listeners,
        goal: 0,
        better: 'lower',
        unit: '',
      },
    ]);
  } finally {
    await control.destroy().catch(() => undefined);
    await c.stop();
    await pgServer?.stop();
    removeScratchDirs();
  }
}

await main();
