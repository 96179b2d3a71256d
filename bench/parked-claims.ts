/**
 * `npm run bench:load`: two loads that used to stop a coordinator answering (issue 12), against
 * `conveyor serve` as a real child process, with `/healthz` sampled every 200 ms from a worker thread
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
import { readFileSync } from 'node:fs';
import { type IncomingMessage, request as httpRequest, Agent } from 'node:http';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { createToken } from '../src/coordinator/auth.js';
import { startServe, type ServeProcess } from '../test/helpers/serve-process.js';
import { newJob } from '../test/helpers/jobs.js';
import { type BackendName, freshStore, removeScratchDirs } from './conveyor-store.js';
import { startPostgres, type PostgresServer } from './postgres-server.js';
import { percentile, printSettings, printTable, printTargets, type Target } from './report.js';

const PRODUCT = 'bench';
const SAMPLE_MS = 200;
const HEALTHZ_P99_MS = 50;
const RSS_MB = 300;
/** A stuck phase is reported as a miss at this bound rather than waited out. */
const PHASE_TIMEOUT_MS = 120_000;

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'sqlite' },
    parked: { type: 'string', default: '500' },
    queued: { type: 'string', default: '10000' },
    claimable: { type: 'string', default: '100' },
    sse: { type: 'string', default: '200' },
    'settle-ms': { type: 'string', default: '10000' },
  },
});
const PARKED = Number(values.parked);
const QUEUED = Number(values.queued);
const CLAIMABLE = Number(values.claimable);
const SSE = Number(values.sse);
const SETTLE_MS = Number(values['settle-ms']);

/** `/healthz` every 200 ms from a worker thread; each sample is the time to its answer (or to stop). */
class HealthSampler {
  private readonly worker: Worker;
  private readonly samples: number[] = [];
  constructor(url: string) {
    this.worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      let stopped = false;
      const pending = new Set();
      const sample = () => {
        if (stopped) return;
        const started = performance.now();
        const entry = { started };
        pending.add(entry);
        fetch(workerData.url + '/healthz').then((r) => r.text()).catch(() => undefined).then(() => {
          pending.delete(entry);
          if (!stopped) parentPort.postMessage(performance.now() - started);
        });
      };
      const timer = setInterval(sample, ${SAMPLE_MS});
      parentPort.on('message', () => {
        stopped = true;
        clearInterval(timer);
        // A request still unanswered counts with the time it has waited so far.
        const now = performance.now();
        parentPort.postMessage({ open: [...pending].map((e) => now - e.started) });
      });
      `,
      { eval: true, workerData: { url } },
    );
    this.worker.on('message', (m: number | { open: number[] }) => {
      if (typeof m === 'number') this.samples.push(m);
    });
  }
  async stop(): Promise<number[]> {
    const open = await new Promise<number[]>((resolve) => {
      this.worker.on('message', (m: number | { open: number[] }) => {
        if (typeof m !== 'number') resolve(m.open);
      });
      this.worker.postMessage('stop');
    });
    await this.worker.terminate();
    return [...this.samples, ...open];
  }
}

/** The child's resident set, sampled every 200 ms; the peak since the last `reset`. */
class RssSampler {
  peakMb = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => {
      this.peakMb = Math.max(this.peakMb, this.now());
    }, SAMPLE_MS);
  }
  now(): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid.toString()}/status`, 'utf8'));
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024;
  }
  reset(): void {
    this.peakMb = this.now();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

interface PhaseFigures {
  healthzP50: number;
  healthzP99: number;
  healthzMax: number;
  samples: number;
  rssPeakMb: number;
}

function figures(samples: number[], rssPeakMb: number): PhaseFigures {
  return {
    healthzP50: percentile(samples, 50),
    healthzP99: percentile(samples, 99),
    healthzMax: Math.max(...samples),
    samples: samples.length,
    rssPeakMb,
  };
}

interface LoadResult {
  backend: BackendName;
  parked: PhaseFigures;
  /** From the first submission to the last claim of the claimable jobs (PHASE_TIMEOUT_MS: not all). */
  submitClaimMs: number;
  claimed: number;
  replay: PhaseFigures;
  replayMs: number;
  rssAfterMb: number;
  load: string;
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function runBackend(backend: BackendName, pgServer: PostgresServer | undefined): Promise<LoadResult> {
  // Fill the database before the coordinator starts: QUEUED jobs only a `gpu` factory could take.
  const fresh = await freshStore(backend, pgServer);
  const { store } = fresh;
  const factoryToken = (await createToken(store, { role: 'factory', product: null, label: 'bench' })).secret;
  const submitToken = (await createToken(store, { role: 'submit', product: null, label: 'bench' })).secret;
  const started = Date.now();
  const chunk = 200;
  for (let i = 0; i < QUEUED; i += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, QUEUED - i) }, (_, k) =>
        store.submit(newJob({ product: PRODUCT, title: `gpu ${String(i + k)}`, requiredCapabilities: ['gpu'] })),
      ),
    );
  }
  const lastSeq = (await store.readEvents({ after: 0, product: PRODUCT, limit: 1_000_000 })).at(-1)?.seq ?? 0;
  console.log(`  ${backend}: ${QUEUED.toString()} queued jobs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await store.close();

  const serve: ServeProcess = await startServe({ db: fresh.url, cwd: process.cwd(), adminToken: undefined });
  const pid = serve.child.pid ?? 0;
  // Never leave the coordinator running when the bench dies.
  const killChild = (): void => {
    serve.child.kill('SIGKILL');
  };
  process.once('exit', killChild);
  const rss = new RssSampler(pid);
  const headers = (token: string): Record<string, string> => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    'x-product-id': PRODUCT,
  });
  const pool = new Pool(serve.url, { connections: PARKED + 20, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  try {
    // Phase 1: parked claims.
    let stopParking = false;
    let claimed = 0;
    let allClaimed: (() => void) | undefined;
    const parkers = Array.from({ length: PARKED }, async (_, i) => {
      while (!stopParking) {
        const answer = await pool
          .request({
            method: 'POST',
            path: '/api/fleet/claim',
            headers: headers(factoryToken),
            body: JSON.stringify({ factoryId: `parked-${String(i)}`, capabilities: ['node'], waitMs: 30_000 }),
          })
          .catch(() => undefined);
        if (answer === undefined) continue;
        await answer.body.text();
        if (answer.statusCode === 200) {
          claimed++;
          if (claimed >= CLAIMABLE) allClaimed?.();
        }
      }
    });
    await sleep(2000);
    rss.reset();
    let sampler = new HealthSampler(serve.url);
    await sleep(SETTLE_MS);
    const submitStarted = Date.now();
    const done = new Promise<void>((resolve) => {
      allClaimed = resolve;
    });
    const submitting = (async () => {
      for (let i = 0; i < CLAIMABLE; i++) {
        const answer = await pool.request({
          method: 'POST',
          path: '/api/jobs',
          headers: headers(submitToken),
          body: JSON.stringify({ title: `claimable ${String(i)}`, body: 'noop', repo: 'https://git.example/b.git' }),
        });
        await answer.body.text();
      }
    })();
    // Its last requests fail when the pool is destroyed below.
    submitting.catch(() => undefined);
    await Promise.race([done, sleep(PHASE_TIMEOUT_MS)]);
    const submitClaimMs = claimed >= CLAIMABLE ? Date.now() - submitStarted : PHASE_TIMEOUT_MS;
    const parked = figures(await sampler.stop(), rss.peakMb);
    console.log(
      `  ${backend} parked: ${JSON.stringify(parked)}, submit+claim ${String(submitClaimMs)} ms, load ${load()}`,
    );
    stopParking = true;
    await pool.destroy().catch(() => undefined);
    await Promise.allSettled([...parkers, submitting]);
    await sleep(2000);

    // Phase 2: SSE replay from the start.
    rss.reset();
    sampler = new HealthSampler(serve.url);
    const agent = new Agent({ keepAlive: false, maxSockets: SSE + 10 });
    const replayStarted = Date.now();
    const clients = Array.from({ length: SSE }, () => replay(serve.url, submitToken, lastSeq, agent));
    const replayed = await Promise.race([
      Promise.all(clients.map((c) => c.done)).then(() => true),
      sleep(PHASE_TIMEOUT_MS).then(() => false),
    ]);
    const replayMs = replayed ? Date.now() - replayStarted : PHASE_TIMEOUT_MS;
    // At least a few samples, and the first moments after the clients left.
    await sleep(1000);
    for (const c of clients) c.close();
    const replayFigures = figures(await sampler.stop(), rss.peakMb);
    console.log(`  ${backend} replay: ${JSON.stringify(replayFigures)}, ${String(replayMs)} ms, load ${load()}`);
    agent.destroy();
    await sleep(5000);
    const rssAfterMb = rss.now();
    return {
      backend,
      parked,
      submitClaimMs,
      claimed,
      replay: replayFigures,
      replayMs,
      rssAfterMb,
      load: load(),
    };
  } finally {
    rss.stop();
    process.off('exit', killChild);
    serve.child.kill('SIGTERM');
    await serve.exited;
    await fresh.dispose().catch(() => undefined);
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  const backends: BackendName[] =
    values.backend === 'both' ? ['sqlite', 'postgres'] : [values.backend === 'postgres' ? 'postgres' : 'sqlite'];
  printSettings('Load (issue 12: parked claims and SSE replay)', [
    ['parked claims', `${PARKED.toString()} (capabilities [node], waitMs 30 s, re-parked on 204)`],
    ['queued jobs none can take', `${QUEUED.toString()} (requires [gpu])`],
    ['claimable jobs submitted', `${CLAIMABLE.toString()}, one at a time over HTTP`],
    ['SSE clients', `${SSE.toString()}, all from after=0`],
    ['/healthz', `every ${SAMPLE_MS.toString()} ms from a worker thread`],
    ['load average at start', load()],
  ]);
  const pgServer = backends.includes('postgres') ? await startPostgres(process.env.CONVEYOR_BENCH_PG_URL) : undefined;
  const results: LoadResult[] = [];
  try {
    for (const backend of backends) results.push(await runBackend(backend, pgServer));
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
        `parked + ${CLAIMABLE.toString()} submit+claim (${r.claimed.toString()} claimed)`,
        r.parked.healthzP50,
        r.parked.healthzP99,
        r.parked.healthzMax,
        r.parked.samples,
        r.parked.rssPeakMb,
        r.submitClaimMs,
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
