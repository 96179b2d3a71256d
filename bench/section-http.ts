/**
 * Sections 2 and 3: the coordinator over real HTTP on both backends. Lifecycle throughput with C
 * client loops; claim latency at a fixed offered rate; wake-up of a parked long-poll claim.
 */
import type { BackendName } from './conveyor-store.js';
import { type BenchCoordinator, type CoordinatorPlace, PLACE_LABEL, startCoordinator } from './coordinator-http.js';
import { formatShares } from './cpu.js';
import { claimThroughput, httpLifecycle } from './http-lifecycle.js';
import { claimLatency, type SubmitPath, wakeUpLatency } from './latency.js';
import type { BenchOptions } from './options.js';
import type { PostgresServer } from './postgres-server.js';
import { type Cell, formatNumber, printSettings, printTable } from './report.js';

/** Jobs per batch claim in section 2b. */
export const BATCH_CLAIM_JOBS = 10;

export interface HttpFigures {
  lifecycle: Partial<Record<BackendName, number>>;
  /** Jobs claimed per second through `POST /api/fleet/claims` (`BATCH_CLAIM_JOBS` per call). */
  batchClaims: Partial<Record<BackendName, number>>;
  claimP99: Partial<Record<BackendName, number>>;
  wakeP50: Partial<Record<BackendName, number>>;
}

function errorText(error: unknown): string {
  return `error: ${error instanceof Error ? error.message : String(error)}`.slice(0, 120);
}

async function withCoordinator<T>(
  backend: BackendName,
  pg: PostgresServer | undefined,
  connections: number,
  place: CoordinatorPlace,
  fn: (coordinator: BenchCoordinator) => Promise<T>,
): Promise<T> {
  const coordinator = await startCoordinator(backend, pg, connections, place);
  try {
    return await fn(coordinator);
  } finally {
    await coordinator.close();
  }
}

const SUBMIT_LABEL: Record<SubmitPath, string> = {
  store: 'store.submit in the coordinator process',
  http: 'POST /api/jobs',
  'other-store': 'store.submit on a second store (NOTIFY)',
};

export async function httpSections(pg: PostgresServer | undefined, options: BenchOptions): Promise<HttpFigures> {
  const figures: HttpFigures = { lifecycle: {}, batchClaims: {}, claimP99: {}, wakeP50: {} };
  const backends: BackendName[] = pg === undefined ? ['sqlite'] : ['sqlite', 'postgres'];

  const lifecycleRows: Cell[][] = [];
  for (const backend of backends) {
    try {
      const r = await withCoordinator(backend, pg, options.fleetLoops, 'child', (c) =>
        httpLifecycle(c, {
          jobs: options.jobs,
          loops: options.fleetLoops,
          warmupJobs: options.fleetWarmupJobs,
          capMs: options.drainCapMs,
        }),
      );
      figures.lifecycle[backend] = r.shipped / r.seconds;
      const note = r.shipped < options.jobs ? `stopped at the ${formatNumber(options.drainCapMs / 1000)} s cap` : '';
      lifecycleRows.push([
        backend,
        r.shipped,
        r.seconds,
        r.shipped / r.seconds,
        r.requests / r.seconds,
        formatShares(r.cpu),
        note,
      ]);
    } catch (error) {
      lifecycleRows.push([backend, '-', '-', '-', '-', '-', errorText(error)]);
    }
  }
  printTable(
    `2. HTTP fleet lifecycle: ${options.jobs.toString()} jobs, ${options.fleetLoops.toString()} client loops of claim → building → review → testing → shipped`,
    ['backend', 'shipped', 'seconds', 'jobs/s', 'requests/s', 'CPU, % of one core', 'note'],
    lifecycleRows,
  );

  const throughputRows: Cell[][] = [];
  for (const backend of backends) {
    for (const maxJobs of [1, BATCH_CLAIM_JOBS]) {
      try {
        const r = await withCoordinator(backend, pg, options.fleetLoops, 'child', (c) =>
          claimThroughput(c, { jobs: options.jobs, loops: options.fleetLoops, maxJobs }),
        );
        if (maxJobs > 1) figures.batchClaims[backend] = r.claimed / r.seconds;
        const call = maxJobs === 1 ? 'POST /api/fleet/claim' : `POST /api/fleet/claims, maxJobs ${maxJobs.toString()}`;
        throughputRows.push([backend, call, r.claimed, r.seconds, r.claimed / r.seconds, r.requests / r.seconds]);
      } catch (error) {
        throughputRows.push([backend, `maxJobs ${maxJobs.toString()}`, '-', '-', '-', errorText(error)]);
      }
    }
  }
  printTable(
    `2b. Claim throughput: ${options.jobs.toString()} jobs claimed by ${options.fleetLoops.toString()} client loops until none is left`,
    ['backend', 'call', 'claimed', 'seconds', 'jobs/s', 'requests/s'],
    throughputRows,
  );

  const claimRows: Cell[][] = [];
  for (const backend of backends) {
    try {
      const r = await withCoordinator(backend, pg, 64, 'in-process', (c) =>
        claimLatency(c, { ratePerSec: options.claimRatePerSec, durationMs: options.claimDurationMs }),
      );
      figures.claimP99[backend] = r.p99;
      claimRows.push([backend, r.offered, r.achievedPerSec, r.p50, r.p99, r.max, r.scheduledP99, r.dropped, r.errors]);
    } catch (error) {
      claimRows.push([backend, options.claimRatePerSec, '-', '-', '-', '-', '-', '-', errorText(error)]);
    }
  }
  printTable(
    `3a. Claim round trip, open loop at ${options.claimRatePerSec.toString()} claims/s for ${(options.claimDurationMs / 1000).toString()} s (ms)`,
    ['backend', 'offered/s', 'achieved/s', 'p50', 'p99', 'max', 'p99 from schedule', 'dropped', 'errors'],
    claimRows,
  );

  const wakeRows: Cell[][] = [];
  for (const backend of backends) {
    const paths: SubmitPath[] = backend === 'postgres' ? ['store', 'http', 'other-store'] : ['store', 'http'];
    try {
      await withCoordinator(backend, pg, 4, 'in-process', async (c) => {
        for (const path of paths) {
          const r = await wakeUpLatency(c, { samples: options.wakeSamples, path });
          if (path === 'store') figures.wakeP50[backend] = r.p50;
          wakeRows.push([backend, SUBMIT_LABEL[path], r.samples, r.p50, r.p99, r.max, r.misses]);
        }
      });
    } catch (error) {
      wakeRows.push([backend, '-', '-', '-', '-', '-', errorText(error)]);
    }
  }
  printTable(
    '3b. Wake-up: from just before the submit to the parked claim (waitMs 5000) answering with the job (ms)',
    ['backend', 'submitted by', 'samples', 'p50', 'p99', 'max', 'misses'],
    wakeRows,
  );
  printSettings('   Settings', [
    [
      'coordinator',
      `2, 2b: ${PLACE_LABEL.child}; 3a, 3b: ${PLACE_LABEL['in-process']}; 127.0.0.1:0, lease TTL 30 s, reaper on`,
    ],
    [
      'client',
      'undici Pool in the bench process, keep-alive, pipelining 1; connections = loops (2, 2b), 64 (3a), 4 (3b)',
    ],
    [
      'CPU',
      'section 2: the coordinator child (coord), the bench process and its client loops (client), every `postgres` process (pg), and the idle time of all cores, each in % of one core over the timed run (/proc)',
    ],
    [
      'HTTP jobs',
      `enqueued with store.submit, then ANALYZE of the jobs table (PostgreSQL, as in section 1); ${options.fleetWarmupJobs.toString()} warm-up jobs shipped untimed first`,
    ],
    [
      '3a',
      'requests leave on a 1 ms timer by schedule; 300 warm-up claims; latency from send (p99 from schedule adds client delay); a request due while 1 000 are outstanding is dropped and counts as ∞',
    ],
    ['3b', 'a claim parks 15 ms before each submit; the target is the in-process store.submit row'],
  ]);
  return figures;
}
