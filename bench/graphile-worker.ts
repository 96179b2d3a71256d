/**
 * Graphile Worker 0.18 at its default settings: `run()` with a no-op task and `concurrency` C, on
 * our own pg Pool (its `runner.stop()` does not wait for its pool, so we close it). It deletes a job
 * when it completes, so the drain ends when its jobs table is empty.
 */
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';
import type { PostgresServer } from './postgres-server.js';
import { sleep } from './timing.js';
import { type CpuShares, cpuMeter } from './cpu.js';

const TASK = 'noop';
const POOL_SIZE = 10;
const silent = new Logger(() => () => undefined);

export interface DrainResult {
  jobs: number;
  seconds: number;
  /** Where the CPU went while it drained. */
  cpu: CpuShares;
}

export const GRAPHILE_SETTINGS = `run({concurrency: C, pgPool: max ${POOL_SIZE.toString()}, taskList: {noop}}), defaults otherwise (pollInterval 2 s + LISTEN/NOTIFY, no localQueue, no completeJob batching)`;

async function addJobs(pool: pg.Pool, count: number): Promise<void> {
  const utils = await makeWorkerUtils({ pgPool: pool, logger: silent });
  try {
    await utils.migrate();
    for (let i = 0; i < count; i += 1000) {
      const specs = Array.from({ length: Math.min(1000, count - i) }, (_, k) => ({
        identifier: TASK,
        payload: { i: i + k },
      }));
      await utils.addJobs(specs);
    }
  } finally {
    await utils.release();
  }
}

/** Runs the worker until `count` tasks ran and every completion is written; returns the elapsed time. */
async function runUntilDrained(pool: pg.Pool, count: number, concurrency: number): Promise<number> {
  let ran = 0;
  let allRan: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    allRan = resolve;
  });
  const started = performance.now();
  const runner = await run({
    pgPool: pool,
    concurrency,
    noHandleSignals: true,
    logger: silent,
    taskList: {
      [TASK]: () => {
        if (++ran >= count) allRan();
      },
    },
  });
  try {
    await finished;
    // Completions are written after the task returns (not awaited by the task): wait for them.
    for (;;) {
      const result = await pool.query<{ n: string }>('select count(*) as n from graphile_worker._private_jobs');
      if (Number(result.rows[0]?.n) === 0) break;
      await sleep(2);
    }
    return (performance.now() - started) / 1000;
  } finally {
    await runner.stop();
  }
}

export async function graphileWorkerDrain(
  server: PostgresServer,
  options: { jobs: number; concurrency: number; warmupJobs: number },
): Promise<DrainResult> {
  const url = await server.freshDatabase('bench_graphile');
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  // An idle client's error (e.g. the server dropping it at the end) must not crash the run.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await addJobs(pool, options.warmupJobs);
    await runUntilDrained(pool, options.warmupJobs, options.concurrency);
    await addJobs(pool, options.jobs);
    await pool.query('analyze graphile_worker._private_jobs');
    const meter = cpuMeter(undefined);
    const seconds = await runUntilDrained(pool, options.jobs, options.concurrency);
    return { jobs: options.jobs, seconds, cpu: meter.stop() };
  } finally {
    await pool.end();
    await server.dropDatabase(url);
  }
}
