/**
 * `npm run bench:load`: two loads that used to stop a coordinator answering (issue 12), against
 * `conveyor serve` as a real child process, with `/healthz` sampled every 200 ms from a process of its own
 * (its own event loop, so a busy bench loop does not delay the samples):
 * - parked: `--parked` long-poll claims (re-parked as soon as one answers 204) while `--queued` jobs
 *   wait that none of them can take; then `--claimable` jobs any of them can take are submitted one by
 *   one, timed until the parked claimers have claimed them all.
 * - replay: `--sse` clients replay the event log from `after=0` at once (the queued jobs' ~`--queued`
 *   `job.created` events, and the rest), timed until each has the last event; RSS after they left.
 * Options: `--backend sqlite|postgres|both` (default sqlite), `--parked 500`, `--queued 10000`,
 * `--claimable 100`, `--sse 200`, `--settle-ms 10000` (how long the parked load is sampled before the
 * submissions).
 */
import { type IncomingMessage, request as httpRequest, Agent } from 'node:http';
import { type BackendName, removeScratchDirs } from './conveyor-store.js';
import {
  figures,
  HEALTHZ_P99_MS,
  HealthSampler,
  type ParkedFigures,
  parkedPhase,
  PHASE_TIMEOUT_MS,
  type PhaseFigures,
  PRODUCT,
  RSS_MB,
  SAMPLE_MS,
  startLoadedCoordinator,
} from './parked-load.js';
import { startPostgres, type PostgresServer } from './postgres-server.js';
import { load, printSettings, printTable, printTargets, type Target } from './report.js';
import { backendsFlag, benchArgs, intFlag } from './args.js';
import { sleep } from './timing.js';

const USAGE =
  'usage: npm run bench:load -- [--backend sqlite|postgres|both] [--parked N] [--queued N] [--claimable N] [--sse N] [--settle-ms MS]';
const values = benchArgs(USAGE, {
  backend: { type: 'string', default: 'sqlite' },
  parked: { type: 'string', default: '500' },
  queued: { type: 'string', default: '10000' },
  claimable: { type: 'string', default: '100' },
  sse: { type: 'string', default: '200' },
  'settle-ms': { type: 'string', default: '10000' },
});
const PARKED = intFlag(values.parked, '--parked', USAGE);
const QUEUED = intFlag(values.queued, '--queued', USAGE);
const CLAIMABLE = intFlag(values.claimable, '--claimable', USAGE);
const SSE = intFlag(values.sse, '--sse', USAGE);
const SETTLE_MS = intFlag(values['settle-ms'], '--settle-ms', USAGE, 0);
const BACKENDS = backendsFlag(values.backend, USAGE);

interface LoadResult {
  backend: BackendName;
  parked: ParkedFigures;
  replay: PhaseFigures;
  replayMs: number;
  rssAfterMb: number;
  load: string;
}

async function runBackend(backend: BackendName, pgServer: PostgresServer | undefined): Promise<LoadResult> {
  const c = await startLoadedCoordinator(backend, pgServer, QUEUED);
  try {
    // Phase 1: parked claims.
    const parked = await parkedPhase(c, { parked: PARKED, claimable: CLAIMABLE, settleMs: SETTLE_MS });
    console.log(`  ${backend} parked: ${JSON.stringify(parked)}, load ${load()}`);
    await sleep(2000);

    // Phase 2: SSE replay from the start.
    c.rss.reset();
    const sampler = await HealthSampler.start(c.serve.url);
    const agent = new Agent({ keepAlive: false, maxSockets: SSE + 10 });
    const replayStarted = Date.now();
    const clients = Array.from({ length: SSE }, () => replay(c.serve.url, c.tokens.submit, c.lastSeq, agent));
    const replayed = await Promise.race([
      Promise.all(clients.map((client) => client.done)).then(() => true),
      sleep(PHASE_TIMEOUT_MS).then(() => false),
    ]);
    const replayMs = replayed ? Date.now() - replayStarted : PHASE_TIMEOUT_MS;
    // At least a few samples, and the first moments after the clients left.
    await sleep(1000);
    for (const client of clients) client.close();
    const replayFigures = figures(await sampler.stop(), c.rss.peakMb);
    console.log(`  ${backend} replay: ${JSON.stringify(replayFigures)}, ${String(replayMs)} ms, load ${load()}`);
    agent.destroy();
    await sleep(5000);
    return { backend, parked, replay: replayFigures, replayMs, rssAfterMb: c.rss.now(), load: load() };
  } finally {
    await c.stop();
  }
}

/** One SSE client reading at full speed until it has the event with `lastSeq`. */
function replay(url: string, token: string, lastSeq: number, agent: Agent): { done: Promise<void>; close(): void } {
  let response: IncomingMessage | undefined;
  const marker = `id: ${lastSeq.toString()}\n`;
  const req = httpRequest(`${url}/api/events?after=0`, {
    agent,
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'x-product-id': PRODUCT },
  });
  const done = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      response = res;
      let tail = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const window = tail + text;
        if (window.includes(marker)) resolve();
        tail = window.slice(-marker.length - 1);
      });
      res.on('end', () => {
        reject(new Error('the stream ended before the last event'));
      });
    });
    req.on('error', reject);
  });
  done.catch(() => undefined);
  req.end();
  return {
    done,
    close() {
      response?.destroy();
      req.destroy();
    },
  };
}

async function main(): Promise<void> {
  printSettings('Load (issue 12: parked claims and SSE replay)', [
    ['parked claims', `${PARKED.toString()} (capabilities [node], waitMs 30 s, re-parked on 204)`],
    ['queued jobs none can take', `${QUEUED.toString()} (requires [gpu])`],
    ['claimable jobs submitted', `${CLAIMABLE.toString()}, one at a time over HTTP`],
    ['SSE clients', `${SSE.toString()}, all from after=0`],
    ['/healthz', `every ${SAMPLE_MS.toString()} ms from a process of its own, over one kept-alive connection`],
    ['load average at start', load()],
  ]);
  const pgServer = BACKENDS.includes('postgres') ? await startPostgres(process.env.CONVEYOR_BENCH_PG_URL) : undefined;
  const results: LoadResult[] = [];
  try {
    for (const backend of BACKENDS) results.push(await runBackend(backend, pgServer));
  } finally {
    await pgServer?.stop();
    removeScratchDirs();
  }
  printTable(
    'Figures (healthz in ms, RSS in MB; a phase stuck past 120 s reads 120,000 ms)',
    [
      'backend',
      'phase',
      'healthz p50',
      'healthz p99',
      'healthz max',
      'samples',
      'RSS peak',
      'time ms',
      'RSS after',
      'load avg',
    ],
    results.flatMap((r) => [
      [
        r.backend,
        `parked + ${CLAIMABLE.toString()} submit+claim (${r.parked.claimed.toString()} claimed)`,
        r.parked.healthzP50,
        r.parked.healthzP99,
        r.parked.healthzMax,
        r.parked.samples,
        r.parked.rssPeakMb,
        r.parked.submitClaimMs,
        '',
        r.load,
      ],
      [
        r.backend,
        `SSE replay x${SSE.toString()}`,
        r.replay.healthzP50,
        r.replay.healthzP99,
        r.replay.healthzMax,
        r.replay.samples,
        r.replay.rssPeakMb,
        r.replayMs,
        r.rssAfterMb,
        r.load,
      ],
    ]),
  );
  printTargets(
    results.flatMap((r): Target[] => [
      {
        name: `${r.backend} parked: healthz p99`,
        actual: r.parked.healthzP99,
        goal: HEALTHZ_P99_MS,
        better: 'lower',
        unit: 'ms',
      },
      { name: `${r.backend} parked: RSS peak`, actual: r.parked.rssPeakMb, goal: RSS_MB, better: 'lower', unit: 'MB' },
      {
        name: `${r.backend} replay: healthz p99`,
        actual: r.replay.healthzP99,
        goal: HEALTHZ_P99_MS,
        better: 'lower',
        unit: 'ms',
      },
      { name: `${r.backend} replay: RSS peak`, actual: r.replay.rssPeakMb, goal: RSS_MB, better: 'lower', unit: 'MB' },
    ]),
  );
  console.log(`\nload average at end: ${load()}`);
}

await main();
