/**
 * The scale benchmark (`npm run bench:scale [-- --backend sqlite|postgres|both] [--sizes 10000,100000,1000000|none]
 * [--samples N] [--budget-min M] [--ingest-sec S]`): event ingestion through the batched route
 * (`section-ingest.ts`, 0 s skips it), then the data-scale section (`section-data.ts`), on SQLite and a
 * real PostgreSQL (embedded unless CONVEYOR_BENCH_PG_URL names one). Prints figures and PASS/MISS; not a test.
 */
import { removeScratchDirs, type BackendName } from './conveyor-store.js';
import { type PostgresServer, startPostgres } from './postgres-server.js';
import { load, printSettings, printTargets } from './report.js';
import { dataSection } from './section-data.js';
import { ingestSection } from './section-ingest.js';
import { backendsFlag, benchArgs, intFlag, usageError } from './args.js';

const USAGE =
  'usage: npm run bench:scale -- [--backend sqlite|postgres|both] [--sizes 10000,100000,1000000|none] [--samples N] [--budget-min M] [--ingest-sec S]';

interface ScaleArgs {
  backends: BackendName[];
  sizes: number[];
  samples: number;
  budgetMs: number;
  ingestMs: number;
}

function readArgs(): ScaleArgs {
  const values = benchArgs(USAGE, {
    backend: { type: 'string', default: 'both' },
    sizes: { type: 'string', default: '10000,100000,1000000' },
    samples: { type: 'string', default: '200' },
    'budget-min': { type: 'string', default: '15' },
    'ingest-sec': { type: 'string', default: '5' },
  });
  const backends = backendsFlag(values.backend, USAGE);
  const sizes = values.sizes === 'none' ? [] : values.sizes.split(',').map(Number);
  if (!sizes.every((n) => Number.isInteger(n) && n > 0)) {
    usageError(`--sizes must be whole numbers ≥ 1 separated by commas, or none; got "${values.sizes}"`, USAGE);
  }
  const samples = intFlag(values.samples, '--samples', USAGE);
  const budgetMin = Number(values['budget-min']);
  const ingestSec = Number(values['ingest-sec']);
  if (!(budgetMin > 0))
    usageError(`--budget-min must be a number of minutes > 0, got "${values['budget-min']}"`, USAGE);
  if (!(ingestSec >= 0))
    usageError(`--ingest-sec must be a number of seconds ≥ 0, got "${values['ingest-sec']}"`, USAGE);
  return {
    backends,
    sizes: [...sizes].sort((x, y) => x - y),
    samples,
    budgetMs: budgetMin * 60_000,
    ingestMs: ingestSec * 1000,
  };
}

const args = readArgs();
let pg: PostgresServer | undefined;
process.on('exit', removeScratchDirs);
const started = performance.now();
try {
  if (args.backends.includes('postgres')) pg = await startPostgres(process.env.CONVEYOR_BENCH_PG_URL);
  printSettings('Conveyor scale benchmark', [
    ['backends', args.backends.join(', ')],
    ['sizes', args.sizes.map((n) => n.toLocaleString('en-US')).join(' / ') || 'none'],
    ['ingestion', args.ingestMs === 0 ? 'skipped' : `${String(args.ingestMs / 1000)} s per backend`],
    ['load average at start', load()],
  ]);
  const targets = [
    ...(args.ingestMs === 0 ? [] : await ingestSection(pg, args.backends, args.ingestMs)),
    ...(args.sizes.length === 0 ? [] : await dataSection(pg, args, args.backends)),
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
process.exit();
