/**
 * Section 1: store-level drain throughput, one job at a time per worker, the same concurrency for
 * every system. Conveyor on both backends; Graphile Worker and pg-boss on the same PostgreSQL.
 */
import { analyzeJobs, type BackendName, drain, type DrainMode, enqueue, freshStore } from './conveyor-store.js';
import { type CpuShares, cpuMeter, formatShares } from './cpu.js';
import { GRAPHILE_SETTINGS, graphileWorkerDrain } from './graphile-worker.js';
import type { BenchOptions } from './options.js';
import { describeBatched, describeDefault, pgBossBatchedDrain, pgBossDefaultWindow } from './pg-boss.js';
import type { PostgresServer } from './postgres-server.js';
import { type Cell, formatNumber, printSettings, printTable } from './report.js';
import { timed } from './timing.js';

export interface StoreFigures {
  /** Jobs/s by backend and mode. */
  conveyor: Partial<Record<`${BackendName}:${DrainMode}`, number>>;
  graphile: number | undefined;
  pgBossBest: { batchSize: number; rate: number } | undefined;
  pgBossDefault: number | undefined;
}

const MODE_LABEL: Record<DrainMode, string> = {
  terminal: '(a) claim + terminal report',
  lifecycle: '(b) full lifecycle',
};

function errorText(error: unknown): string {
  return `error: ${error instanceof Error ? error.message : String(error)}`.slice(0, 120);
}

async function conveyorDrain(
  backend: BackendName,
  mode: DrainMode,
  pg: PostgresServer | undefined,
  options: BenchOptions,
): Promise<{ jobs: number; seconds: number; enqueuePerSec: number; capped: boolean; cpu: CpuShares }> {
  const fresh = await freshStore(backend, pg);
  try {
    await enqueue(fresh.store, options.warmupJobs);
    await drain(fresh.store, options.concurrency, mode);
    const enqueued = await timed(() => enqueue(fresh.store, options.jobs));
    await analyzeJobs(fresh);
    const meter = cpuMeter(undefined);
    const { value: jobs, seconds } = await timed(() =>
      drain(fresh.store, options.concurrency, mode, options.drainCapMs),
    );
    const cpu = meter.stop();
    return { jobs, seconds, enqueuePerSec: options.jobs / enqueued.seconds, capped: jobs < options.jobs, cpu };
  } finally {
    await fresh.dispose();
  }
}

export async function storeSection(pg: PostgresServer | undefined, options: BenchOptions): Promise<StoreFigures> {
  const figures: StoreFigures = { conveyor: {}, graphile: undefined, pgBossBest: undefined, pgBossDefault: undefined };
  const rows: Cell[][] = [];
  const backends: BackendName[] = pg === undefined ? ['sqlite'] : ['sqlite', 'postgres'];
  for (const backend of backends) {
    for (const mode of ['terminal', 'lifecycle'] as const) {
      try {
        const r = await conveyorDrain(backend, mode, pg, options);
        const rate = r.jobs / r.seconds;
        figures.conveyor[`${backend}:${mode}`] = rate;
        rows.push([
          'Conveyor',
          backend,
          MODE_LABEL[mode],
          r.jobs,
          r.seconds,
          rate,
          formatShares(r.cpu),
          `${formatNumber(r.enqueuePerSec)}/s`,
        ]);
      } catch (error) {
        rows.push(['Conveyor', backend, MODE_LABEL[mode], '-', '-', '-', '-', errorText(error)]);
      }
    }
  }
  const peerSettings: [string, string][] = [];
  if (pg !== undefined) {
    const peer = { jobs: options.jobs, concurrency: options.concurrency, warmupJobs: options.warmupJobs };
    try {
      const r = await graphileWorkerDrain(pg, peer);
      figures.graphile = r.jobs / r.seconds;
      rows.push([
        'Graphile Worker 0.18',
        'postgres',
        'get job + complete job',
        r.jobs,
        r.seconds,
        figures.graphile,
        formatShares(r.cpu),
        'addJobs ×1000',
      ]);
    } catch (error) {
      rows.push(['Graphile Worker 0.18', 'postgres', 'get job + complete job', '-', '-', '-', '-', errorText(error)]);
    }
    peerSettings.push(['Graphile Worker', GRAPHILE_SETTINGS]);
    for (const batchSize of options.pgBossBatchSizes) {
      const label = `batch fetch ${batchSize.toString()} + batch complete`;
      try {
        const r = await pgBossBatchedDrain(pg, { ...peer, batchSize });
        const rate = r.jobs / r.seconds;
        if (figures.pgBossBest === undefined || rate > figures.pgBossBest.rate)
          figures.pgBossBest = { batchSize, rate };
        rows.push(['pg-boss 12.35 batched', 'postgres', label, r.jobs, r.seconds, rate, '', 'insert ×1000']);
      } catch (error) {
        rows.push(['pg-boss 12.35 batched', 'postgres', label, '-', '-', '-', '-', errorText(error)]);
      }
    }
    peerSettings.push([
      'pg-boss batched',
      `${describeBatched(0, options.concurrency).replace('"batchSize":0', `"batchSize":${options.pgBossBatchSizes.join('|')}`)}; the fastest batch size is its figure`,
    ]);
    try {
      const r = await pgBossDefaultWindow(pg, {
        jobs: Math.min(options.jobs, 1000),
        concurrency: options.concurrency,
        windowMs: options.pgBossDefaultWindowMs,
      });
      figures.pgBossDefault = r.jobs / r.seconds;
      rows.push([
        'pg-boss 12.35 defaults',
        'postgres',
        'fetch 1 + complete 1',
        r.jobs,
        r.seconds,
        figures.pgBossDefault,
        '',
        `window ${formatNumber(options.pgBossDefaultWindowMs / 1000)} s`,
      ]);
    } catch (error) {
      rows.push(['pg-boss 12.35 defaults', 'postgres', 'fetch 1 + complete 1', '-', '-', '-', '-', errorText(error)]);
    }
    peerSettings.push([
      'pg-boss defaults',
      `${describeDefault(options.concurrency)}; poll-bound, so jobs done in a fixed window`,
    ]);
  }
  printTable(
    `1. Store-level drain throughput: ${options.jobs.toString()} no-op jobs, ${options.concurrency.toString()} workers, one job at a time each`,
    ['system', 'backend', 'work per job', 'jobs', 'seconds', 'jobs/s', 'CPU, % of one core', 'enqueue'],
    rows,
  );
  printSettings('   Settings', [
    [
      'Conveyor',
      `store.claim({leaseTtlMs: 30000}) then (a) report failed {retryable: false} or (b) report building → testing → shipped; policy {backoffMs: () => 1000}; openStore defaults (PostgreSQL pool 10; claims and reports made while others of their kind are in flight share one statement, src/store/postgres/statement-batches.ts)`,
    ],
    ...peerSettings,
    [
      'every system',
      `fresh database; ${options.warmupJobs.toString()} warm-up jobs drained untimed first; ANALYZE of the jobs table after enqueue (PostgreSQL); timed from the first fetch to the last completion committed`,
    ],
    [
      'CPU',
      'Conveyor and Graphile Worker: the bench process, where the store or the worker runs (client), every `postgres` process (pg), and the idle time of all cores, each in % of one core over the drain (/proc); much idle means the drain waits on round trips and commits, not on the CPU',
    ],
  ]);
  const pgA = figures.conveyor['postgres:terminal'];
  if (pgA !== undefined) {
    const ratios: Cell[][] = [];
    if (figures.graphile !== undefined)
      ratios.push(['Conveyor (a) / Graphile Worker', `${(pgA / figures.graphile).toFixed(2)}×`]);
    if (figures.pgBossBest !== undefined) {
      ratios.push([
        `Conveyor (a) / pg-boss batched (batchSize ${figures.pgBossBest.batchSize.toString()})`,
        `${(pgA / figures.pgBossBest.rate).toFixed(2)}×`,
      ]);
    }
    if (figures.pgBossDefault !== undefined) {
      ratios.push(['Conveyor (a) / pg-boss defaults', `${(pgA / figures.pgBossDefault).toFixed(1)}×`]);
    }
    const pgB = figures.conveyor['postgres:lifecycle'];
    if (pgB !== undefined && figures.graphile !== undefined) {
      ratios.push(['Conveyor (b) / Graphile Worker', `${(pgB / figures.graphile).toFixed(2)}×`]);
    }
    printTable('   PostgreSQL ratios (jobs/s over jobs/s)', ['ratio', 'value'], ratios);
  }
  return figures;
}
