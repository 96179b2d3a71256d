/**
 * pg-boss 12.35 on its own fresh database: its batched configuration (the documented throughput
 * knobs: `batchSize`, `burstWhenBatchFull`, LISTEN/NOTIFY) drained to the end, and its defaults
 * (one job per fetch, then a 2 s poll wait) measured over a fixed window.
 */
import { PgBoss, type WorkOptions } from 'pg-boss';
import type { PostgresServer } from './postgres-server.js';
import { sleep } from './timing.js';

const QUEUE = 'noop';

export interface PgBossResult {
  jobs: number;
  seconds: number;
}

export function batchedSettings(batchSize: number, concurrency: number): WorkOptions {
  return {
    batchSize,
    localConcurrency: concurrency,
    // Keep fetching while fetches come back full, instead of waiting out a poll interval.
    burstWhenBatchFull: true,
    pollingIntervalSeconds: 0.5,
  };
}

export function describeBatched(batchSize: number, concurrency: number): string {
  const work = JSON.stringify(batchedSettings(batchSize, concurrency));
  return `new PgBoss({useListenNotify: true}); createQueue({notify: true}); work(${work}); pool max 10 (default)`;
}

export function describeDefault(concurrency: number): string {
  return `new PgBoss(url); work({localConcurrency: ${concurrency.toString()}}) — batchSize 1, pollingIntervalSeconds 2`;
}

async function withBoss<T>(
  server: PostgresServer,
  listenNotify: boolean,
  fn: (boss: PgBoss, url: string) => Promise<T>,
): Promise<T> {
  const url = await server.freshDatabase('bench_pgboss');
  const boss = new PgBoss({ connectionString: url, useListenNotify: listenNotify });
  const errors: unknown[] = [];
  boss.on('error', (error: unknown) => errors.push(error));
  try {
    await boss.start();
    await boss.createQueue(QUEUE, { notify: listenNotify });
    const result = await fn(boss, url);
    if (errors.length > 0) throw new Error('pg-boss reported errors during the run', { cause: errors[0] });
    return result;
  } finally {
    await boss.stop({ graceful: false, timeout: 2000 });
    await server.dropDatabase(url);
  }
}

async function insert(boss: PgBoss, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    await boss.insert(
      QUEUE,
      Array.from({ length: Math.min(1000, count - i) }, (_, k) => ({ data: { i: i + k } })),
    );
  }
}

/** Works the queue until `count` jobs ran and are marked completed; returns the elapsed time. */
async function workUntilDrained(boss: PgBoss, count: number, options: WorkOptions): Promise<number> {
  let ran = 0;
  const started = performance.now();
  const id = await boss.work(QUEUE, options, (jobs) => {
    ran += jobs.length;
    return Promise.resolve();
  });
  try {
    while (ran < count) await sleep(1);
    // The batch is marked completed after the handler resolves: wait for that write too.
    for (;;) {
      const rows = await boss
        .getDb()
        .executeSql(`select count(*) as n from pgboss.job where name = $1 and state <> 'completed'`, [QUEUE]);
      if (Number((rows.rows[0] as { n: string } | undefined)?.n) === 0) break;
      await sleep(2);
    }
    return (performance.now() - started) / 1000;
  } finally {
    await boss.offWork(QUEUE, { id, wait: true });
  }
}

export function pgBossBatchedDrain(
  server: PostgresServer,
  options: { jobs: number; concurrency: number; warmupJobs: number; batchSize: number },
): Promise<PgBossResult> {
  return withBoss(server, true, async (boss) => {
    const work = batchedSettings(options.batchSize, options.concurrency);
    await insert(boss, options.warmupJobs);
    await workUntilDrained(boss, options.warmupJobs, work);
    await insert(boss, options.jobs);
    await boss.getDb().executeSql('analyze pgboss.job');
    const seconds = await workUntilDrained(boss, options.jobs, work);
    return { jobs: options.jobs, seconds };
  });
}

/** pg-boss's defaults drain at the poll rate, not the database's: count what runs in a fixed window. */
export function pgBossDefaultWindow(
  server: PostgresServer,
  options: { jobs: number; concurrency: number; windowMs: number },
): Promise<PgBossResult> {
  return withBoss(server, false, async (boss) => {
    await insert(boss, options.jobs);
    await boss.getDb().executeSql('analyze pgboss.job');
    let ran = 0;
    const started = performance.now();
    const id = await boss.work(QUEUE, { localConcurrency: options.concurrency }, (jobs) => {
      ran += jobs.length;
      return Promise.resolve();
    });
    await sleep(options.windowMs);
    const jobs = ran;
    const seconds = (performance.now() - started) / 1000;
    await boss.offWork(QUEUE, { id, wait: true });
    return { jobs, seconds };
  });
}
