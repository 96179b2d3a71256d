/**
 * The benchmark's settings: command-line flags and the one environment variable, read here only.
 * `--quick` shrinks every section for a run of about a minute; explicit flags still win.
 */
import { benchArgs, intFlag } from './args.js';

export interface BenchOptions {
  /** Jobs per throughput measurement. @default 5 000 (1 000 with --quick) */
  jobs: number;
  /** Workers (store) and worker slots (peers). @default 8 */
  concurrency: number;
  /**
   * Client loops of the HTTP fleet sections (lifecycle, claim throughput): each one factory slot calling
   * the coordinator one request at a time, as a fleet of that many does. @default 128
   */
  fleetLoops: number;
  quick: boolean;
  /** A PostgreSQL server to use instead of starting an embedded one (`CONVEYOR_BENCH_PG_URL`). */
  pgUrl: string | undefined;
  /** Offered claim rate for the latency section. @default 1 000/s */
  claimRatePerSec: number;
  /** How long the claim rate is held. @default 5 000 ms (2 000 with --quick) */
  claimDurationMs: number;
  /** Wake-up samples per backend and submit path. @default 200 (50 with --quick) */
  wakeSamples: number;
  /** Window for pg-boss at its default settings, which waits out a poll interval after each job. @default 6 000 ms */
  pgBossDefaultWindowMs: number;
  /** Batch sizes tried for pg-boss's batched configuration; the fastest is its figure. */
  pgBossBatchSizes: number[];
  /**
   * Longest a Conveyor drain (store or HTTP) may run; past it the loops stop claiming and the rate is
   * taken over what was done, so a slow build still finishes in bounded time. @default 20 000 ms (5 000 with --quick)
   */
  drainCapMs: number;
  /** Jobs drained (untimed) before each throughput measurement, to warm the JIT and caches. */
  warmupJobs: number;
  /**
   * The same before the HTTP lifecycle: a fresh `conveyor serve` child compiles its hot paths over its
   * first thousand jobs or so. @default 1 000
   */
  fleetWarmupJobs: number;
  /**
   * The parked-claims load of section 4. @default 500 parked, 10 000 queued, 100 claimable, 10 000 ms
   * sampled before the submissions (200, 2 000, 100, 3 000 ms with --quick)
   */
  parkedLoad: { parked: number; queued: number; claimable: number; settleMs: number };
}

const USAGE = 'usage: npm run bench:core -- [--quick] [--jobs N] [--concurrency C] [--fleet-loops L]';

function positiveInt(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : intFlag(value, flag, USAGE);
}

export function readOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const values = benchArgs(
    USAGE,
    {
      jobs: { type: 'string' },
      concurrency: { type: 'string' },
      'fleet-loops': { type: 'string' },
      quick: { type: 'boolean', default: false },
    },
    argv,
  );
  const quick = values.quick;
  const jobs = positiveInt(values.jobs, '--jobs') ?? (quick ? 1_000 : 5_000);
  const pgUrl = env.CONVEYOR_BENCH_PG_URL;
  return {
    jobs,
    concurrency: positiveInt(values.concurrency, '--concurrency') ?? 8,
    fleetLoops: positiveInt(values['fleet-loops'], '--fleet-loops') ?? 128,
    quick,
    pgUrl: pgUrl === undefined || pgUrl === '' ? undefined : pgUrl,
    claimRatePerSec: 1_000,
    claimDurationMs: quick ? 2_000 : 5_000,
    wakeSamples: quick ? 30 : 200,
    pgBossDefaultWindowMs: quick ? 2_000 : 6_000,
    drainCapMs: quick ? 5_000 : 20_000,
    pgBossBatchSizes: quick ? [100] : [20, 100, 500],
    warmupJobs: Math.min(500, Math.max(50, Math.floor(jobs / 10))),
    fleetWarmupJobs: 1_000,
    parkedLoad: quick
      ? { parked: 200, queued: 2_000, claimable: 100, settleMs: 3_000 }
      : { parked: 500, queued: 10_000, claimable: 100, settleMs: 10_000 },
  };
}
