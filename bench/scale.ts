/**
 * The scale benchmark (`npm run bench:scale [-- --backend sqlite|postgres|both] [--sizes 10000,100000,1000000]
 * [--samples N] [--budget-min M]`): the data-scale section (`section-data.ts`) on SQLite and a real
 * PostgreSQL (embedded unless CONVEYOR_BENCH_PG_URL names one). Prints figures and PASS/MISS; not a test.
 */
import { parseArgs } from 'node:util';
import { removeScratchDirs, type BackendName } from './conveyor-store.js';
import { load } from './parked-load.js';
import { type PostgresServer, startPostgres } from './postgres-server.js';
import { printSettings, printTargets } from './report.js';
import { dataSection } from './section-data.js';

const USAGE =
  'usage: npm run bench:scale -- [--backend sqlite|postgres|both] [--sizes 10000,100000,1000000] [--samples N] [--budget-min M]';

function readArgs(): { backends: BackendName[]; sizes: number[]; samples: number; budgetMs: number } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      backend: { type: 'string', default: 'both' },
      sizes: { type: 'string', default: '10000,100000,1000000' },
      samples: { type: 'string', default: '200' },
      'budget-min': { type: 'string', default: '15' },
    },
    strict: true,
  });
  const known: Record<string, BackendName[]> = {
    both: ['sqlite', 'postgres'],
    sqlite: ['sqlite'],
    postgres: ['postgres'],
  };
  const backends = known[values.backend];
  if (backends === undefined) throw new Error(`--backend: ${values.backend}\n${USAGE}`);
  const sizes = values.sizes.split(',').map(Number);
  if (!sizes.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`--sizes: ${values.sizes}\n${USAGE}`);
  const samples = Number(values.samples);
  const budgetMin = Number(values['budget-min']);
  if (!Number.isInteger(samples) || samples < 1 || !(budgetMin > 0)) throw new Error(USAGE);
  return { backends, sizes: [...sizes].sort((a, b) => a - b), samples, budgetMs: budgetMin * 60_000 };
}

const args = readArgs();
let pg: PostgresServer | undefined;
process.on('exit', removeScratchDirs);
const started = performance.now();
try {
  if (args.backends.includes('postgres')) pg = await startPostgres(process.env.CONVEYOR_BENCH_PG_URL);
  printSettings('Conveyor scale benchmark', [
    ['backends', args.backends.join(', ')],
    ['sizes', args.sizes.map((n) => n.toLocaleString('en-US')).join(' / ')],
    ['load average at start', load()],
  ]);
  const targets = await dataSection(pg, args, args.backends);
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
