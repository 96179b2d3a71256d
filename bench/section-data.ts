/**
 * Data scale (issue 12, "Data scale"): a coordinator over a database grown to each size in turn
 * (10k, 100k, 1M jobs, ~20 events each, generated in bulk SQL by `bulk-data.ts`), and at each size the
 * p99 of a claim, `GET /api/jobs` (first page, and a page from the middle by cursor) and the events of a
 * job with 10,000 of them, against ≤ 20 ms. A size that takes longer to reach than the time budget
 * (`--budget-min`) is not started: the table says which size was reached.
 */
import { statSync } from 'node:fs';
import { type BulkFiller, bulkJobId, EVENTS_PER_JOB, postgresFiller, QUEUED_EVERY, sqliteFiller } from './bulk-data.js';
import { type BenchCoordinator, startCoordinator } from './coordinator-http.js';
import type { BackendName } from './conveyor-store.js';
import type { PostgresServer } from './postgres-server.js';
import { type Cell, load, percentile, printSettings, printTable, type Target } from './report.js';

export const DATA_GOAL_MS = 20;
const BIG_JOB_EVENTS = 10_000;
/** Events per page when the 10k-event job is read paged. */
const EVENTS_PAGE = 500;
const DAY_MS = 86_400_000;

export interface DataOptions {
  sizes: number[];
  /** Requests timed per measure and size. */
  samples: number;
  /** Wall-clock budget per backend for growing the database; a size past it is skipped. */
  budgetMs: number;
}

/** A measure's p50 and p99 (ms): the p50 shows the cost, the p99 also the machine's other load. */
export interface Latency {
  p50: number;
  p99: number;
}

export interface DataPoint {
  size: number;
  claim: Latency;
  firstPage: Latency;
  laterPage: Latency;
  bigJobEvents: Latency;
  bigJobPage: Latency;
  bigJobNewest: Latency;
  generateSec: number;
  databaseMb: number;
  /** The load average when this size was measured. */
  load: string;
}

async function timed(samples: number, request: (i: number) => Promise<void>): Promise<Latency> {
  for (let i = 0; i < 10; i++) await request(i);
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await request(i);
    ms.push(performance.now() - started);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/**
 * SQLite's generation runs on this event loop, long enough for the server to close the client's idle
 * keep-alive sockets as it resumes: the pool's first requests then meet a reset and open new ones.
 */
async function reconnect(c: BenchCoordinator): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      ok(await c.call('GET', '/api/jobs?limit=1', undefined, 'submit'), 'reconnect');
      return;
    } catch (error) {
      if (attempt >= 8) throw error;
    }
  }
}

const show = (l: Latency): string => `${l.p50.toFixed(1)}/${l.p99.toFixed(1)}`;

function ok(answer: { status: number }, what: string): void {
  if (answer.status !== 200) throw new Error(`${what}: HTTP ${String(answer.status)}`);
}

async function sizeMb(c: BenchCoordinator, backend: BackendName): Promise<number> {
  if (backend === 'sqlite') {
    const bytes = (path: string): number => {
      try {
        return statSync(path).size;
      } catch {
        return 0;
      }
    };
    return (bytes(c.databaseUrl) + bytes(`${c.databaseUrl}-wal`)) / 2 ** 20;
  }
  return (await c.store.databaseSize()).bytes / 2 ** 20;
}

async function measureBackend(
  backend: BackendName,
  pgServer: PostgresServer | undefined,
  options: DataOptions,
): Promise<DataPoint[]> {
  const c = await startCoordinator(backend, pgServer, 4);
  const points: DataPoint[] = [];
  let filler: BulkFiller | undefined;
  try {
    const template = await c.call(
      'POST',
      '/api/jobs',
      { title: 'template', body: 'The job every generated one copies.', repo: 'https://git.example/app.git' },
      'submit',
    );
    if (template.status !== 201) throw new Error(`submit: HTTP ${String(template.status)}`);
    const templateId = template.body.id as string;
    const base = Date.now() - 400 * DAY_MS;
    filler =
      backend === 'sqlite'
        ? sqliteFiller(c.databaseUrl, templateId, base)
        : await postgresFiller(c.databaseUrl, templateId, base);
    await filler.addEvents(templateId, BIG_JOB_EVENTS);
    const templateEvents = await c.call('GET', `/api/jobs/${templateId}/events`, undefined, 'submit');
    ok(templateEvents, 'job events');
    const bigJobSeq = (templateEvents.body as { seq: number }[])[BIG_JOB_EVENTS / 2]?.seq ?? 0;
    const started = performance.now();
    let have = 0;
    for (const size of options.sizes) {
      const spent = performance.now() - started;
      // Growing costs about linearly in rows: skip a size the rate so far says would not fit.
      const projected = have === 0 ? 0 : (spent / have) * (size - have);
      if (spent + projected > options.budgetMs) {
        console.log(
          `   ${backend}: ${size.toLocaleString('en-US')} jobs skipped: about ${(projected / 1000).toFixed(0)} s more to generate, past the ${(options.budgetMs / 1000).toFixed(0)} s budget (--budget-min)`,
        );
        break;
      }
      const genStart = performance.now();
      await filler.addJobs(have + 1, size);
      const generateSec = (performance.now() - genStart) / 1000;
      have = size;
      await reconnect(c);
      const middle = bulkJobId(Math.floor(size / 2));
      const claim = await timed(options.samples, async () => {
        ok(await c.call('POST', '/api/fleet/claim', { factoryId: 'data-bench', capabilities: [] }), 'claim');
      });
      const firstPage = await timed(options.samples, async () => {
        ok(await c.call('GET', '/api/jobs', undefined, 'submit'), 'first page');
      });
      const laterPage = await timed(options.samples, async () => {
        ok(await c.call('GET', `/api/jobs?cursor=${middle}`, undefined, 'submit'), 'later page');
      });
      const bigJobEvents = await timed(Math.min(options.samples, 50), async () => {
        ok(await c.call('GET', `/api/jobs/${templateId}/events`, undefined, 'submit'), 'job events');
      });
      const bigJobPage = await timed(options.samples, async (i) => {
        // A page from the middle of its events, as a reader continuing from a seq it saw.
        const after = i % 2 === 0 ? 0 : bigJobSeq;
        ok(
          await c.call(
            'GET',
            `/api/jobs/${templateId}/events?limit=${String(EVENTS_PAGE)}&after=${String(after)}`,
            undefined,
            'submit',
          ),
          'job events page',
        );
      });
      const bigJobNewest = await timed(options.samples, async (i) => {
        // What the dashboard's job page reads first (its newest events), then a page back from the middle.
        const query = i % 2 === 0 ? '' : `&before=${String(bigJobSeq)}`;
        ok(
          await c.call(
            'GET',
            `/api/jobs/${templateId}/events?last=${String(EVENTS_PAGE)}${query}`,
            undefined,
            'submit',
          ),
          'job events newest page',
        );
      });
      const point = {
        size,
        claim,
        firstPage,
        laterPage,
        bigJobEvents,
        bigJobPage,
        bigJobNewest,
        generateSec,
        databaseMb: await sizeMb(c, backend),
        load: load(),
      };
      points.push(point);
      console.log(
        `   ${backend} ${size.toLocaleString('en-US')} jobs: generated in ${generateSec.toFixed(1)} s; p50/p99 ms: claim ${show(claim)}, first page ${show(firstPage)}, later page ${show(laterPage)}, 10k-event job ${show(bigJobEvents)}, a page of its events ${show(bigJobPage)}, its newest ${show(bigJobNewest)}; load ${load()}`,
      );
    }
  } finally {
    await filler?.close();
    await c.close();
  }
  return points;
}

/** Runs the section on each backend; prints the curve per size and returns the targets at the largest size reached. */
export async function dataSection(
  pgServer: PostgresServer | undefined,
  options: DataOptions,
  backends: readonly BackendName[],
): Promise<Target[]> {
  const targets: Target[] = [];
  const rows: Cell[][] = [];
  const verdict = (l: Latency): string => `${show(l)} ${l.p99 <= DATA_GOAL_MS ? 'PASS' : 'MISS'}`;
  for (const backend of backends) {
    const points = await measureBackend(backend, pgServer, options);
    for (const p of points)
      rows.push([
        backend,
        p.size,
        p.size * EVENTS_PER_JOB + BIG_JOB_EVENTS,
        verdict(p.claim),
        verdict(p.firstPage),
        verdict(p.laterPage),
        show(p.bigJobEvents),
        verdict(p.bigJobPage),
        verdict(p.bigJobNewest),
        p.generateSec,
        p.databaseMb,
        p.load,
      ]);
    const last = points.at(-1);
    if (last === undefined) continue;
    const at = `${backend}, ${last.size.toLocaleString('en-US')} jobs`;
    for (const [name, actual] of [
      ['claim p99', last.claim.p99],
      ['GET /api/jobs first page p99', last.firstPage.p99],
      ['GET /api/jobs later page p99', last.laterPage.p99],
      [`job with 10,000 events, a page of ${String(EVENTS_PAGE)} p99`, last.bigJobPage.p99],
      [`job with 10,000 events, its newest ${String(EVENTS_PAGE)} (the job page) p99`, last.bigJobNewest.p99],
    ] as const)
      targets.push({ name: `${name}, ${at}`, actual, goal: DATA_GOAL_MS, better: 'lower', unit: 'ms' });
  }
  printTable(
    `Data scale: p50/p99 per database size (ms; the p99 against ≤ ${String(DATA_GOAL_MS)} ms), over HTTP on loopback`,
    [
      'backend',
      'jobs',
      'events',
      'claim',
      'jobs page 1',
      'jobs page mid',
      '10k-event job, all',
      `its events by ${String(EVENTS_PAGE)}`,
      `its newest ${String(EVENTS_PAGE)}`,
      'generate s',
      'DB MB',
      'load avg',
    ],
    rows,
  );
  printSettings('   Settings', [
    [
      'data',
      `1 job in ${String(QUEUED_EVERY)} queued, the rest shipped; ${String(EVENTS_PER_JOB)} tool.call events each`,
    ],
    ['generation', 'SQLite: WITH RECURSIVE, 50k jobs per transaction; PostgreSQL: generate_series, then ANALYZE'],
    ['requests', `${String(options.samples)} timed per measure and size after 10 untimed (50 for the 10k-event job)`],
    ['later page', 'GET /api/jobs?cursor=<the id in the middle of the table>'],
    [
      '10k-event job',
      `GET /api/jobs/:id/events: all of them (no client reads them at once: not a target), ?limit=${String(EVENTS_PAGE)} from the start or the middle (after=<seq>), ?last=${String(EVENTS_PAGE)} (the dashboard's job page) or back from the middle (before=<seq>)`,
    ],
  ]);
  return targets;
}
