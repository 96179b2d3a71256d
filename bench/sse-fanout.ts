/**
 * `npm run bench:fanout`: SSE fan-out (issue 12, "event volume"). `--subscribers` clients (default 500)
 * hold `GET /api/events` open on one `conveyor serve` child process while a lease holder uploads
 * `tool.call` events at `--rate` per second (default 1,000; batches every 20 ms) for `--seconds`
 * (default 10). Each event carries the time it was sent; each subscriber notes when it arrives.
 *
 * Figures: event-to-subscriber latency p50/p95/p99 over every delivery (against p95 ≤ 100 ms), the
 * deliveries missing at the end, `/healthz` p99 from a process of its own, and the coordinator's RSS peak.
 * One more client opens the stream and never reads: the coordinator must keep its memory bounded
 * (it drops a client that does not drain a page within 30 s) rather than buffer for it.
 * Options: `--backend sqlite|postgres` (default sqlite).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Pool } from 'undici';
import { removeScratchDirs } from './conveyor-store.js';
import {
  HealthSampler,
  HEALTHZ_P99_MS,
  type LoadedCoordinator,
  RSS_MB,
  send,
  startLoadedCoordinator,
} from './parked-load.js';
import { startPostgres } from './postgres-server.js';
import { load, percentile, printSettings, printTable, printTargets } from './report.js';
import { benchArgs, choiceFlag, intFlag } from './args.js';
import { sleep } from './timing.js';

const USAGE = 'usage: npm run bench:fanout -- [--backend sqlite|postgres] [--subscribers N] [--rate N] [--seconds S]';
const values = benchArgs(USAGE, {
  backend: { type: 'string', default: 'sqlite' },
  subscribers: { type: 'string', default: '500' },
  rate: { type: 'string', default: '1000' },
  seconds: { type: 'string', default: '10' },
});
const SUBSCRIBERS = intFlag(values.subscribers, '--subscribers', USAGE);
const RATE = intFlag(values.rate, '--rate', USAGE);
const SECONDS = intFlag(values.seconds, '--seconds', USAGE);
const BACKEND = choiceFlag(values.backend, '--backend', ['sqlite', 'postgres'], USAGE);
const P95_GOAL_MS = 100;
const TICK_MS = 20;
const MARK = '"sentAt":';

/** Milliseconds on a clock every process of this machine shares. */
const now = (): number => performance.timeOrigin + performance.now();

/** One `GET /api/events` client: the latency of every marked event it receives. */
interface Subscriber {
  received: number;
  close(): void;
}

function subscribe(
  c: LoadedCoordinator,
  after: number,
  latencies: number[],
  options: { read: boolean },
): Promise<Subscriber> {
  const url = new URL(`/api/events?after=${String(after)}`, c.serve.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers: c.headers(c.tokens.submit), agent: false }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`GET /api/events answered ${String(response.statusCode)}`));
        return;
      }
      const subscriber: Subscriber = {
        received: 0,
        close: () => {
          request.destroy();
        },
      };
      if (!options.read) {
        // Never reads past the headers: the socket's buffers fill and stay full.
        response.pause();
        resolve(subscriber);
        return;
      }
      read(response, subscriber, latencies);
      resolve(subscriber);
    });
    request.on('error', () => undefined);
    request.end();
  });
}

/** Notes each marked event's latency as its chunk arrives; a mark split across chunks is read whole. */
function read(response: IncomingMessage, subscriber: Subscriber, latencies: number[]): void {
  response.setEncoding('utf8');
  let tail = '';
  response.on('data', (chunk: string) => {
    const at = now();
    const text = tail + chunk;
    let from = 0;
    for (;;) {
      const found = text.indexOf(MARK, from);
      if (found < 0) break;
      const start = found + MARK.length;
      const end = text.indexOf('}', start);
      if (end < 0) {
        tail = text.slice(found);
        return;
      }
      latencies.push(at - Number(text.slice(start, end)));
      subscriber.received++;
      from = end;
    }
    tail = '';
  });
  response.on('error', () => undefined);
}

async function main(): Promise<void> {
  printSettings('SSE fan-out (issue 12: event volume)', [
    ['backend', BACKEND],
    ['subscribers', `${String(SUBSCRIBERS)} reading GET /api/events, and 1 that never reads`],
    ['events', `${String(RATE)}/s tool.call for ${String(SECONDS)} s, a batch every ${String(TICK_MS)} ms`],
    ['load average at start', load()],
  ]);
  const pgServer = BACKEND === 'postgres' ? await startPostgres(process.env.CONVEYOR_BENCH_PG_URL) : undefined;
  const c = await startLoadedCoordinator(BACKEND, pgServer, 0);
  const pool = new Pool(c.serve.url, { connections: 4 });
  const post = (path: string, token: string, body: unknown) => send(pool, c, path, token, body);
  const subscribers: Subscriber[] = [];
  try {
    const submitted = await post('/api/jobs', c.tokens.submit, {
      title: 'fan-out',
      body: 'Events go here.',
      repo: 'https://git.example/fanout.git',
    });
    if (submitted.status !== 201) throw new Error(`POST /api/jobs answered ${String(submitted.status)}`);
    const claim = await post('/api/fleet/claim', c.tokens.factory, { factoryId: 'fanout', capabilities: [] });
    if (claim.status !== 200) throw new Error(`claim answered ${String(claim.status)}`);
    const { job, leaseEpoch } = claim.body as { job: { id: string }; leaseEpoch: number };
    const jobId = job.id;
    const latencies: number[] = [];
    for (let i = 0; i < SUBSCRIBERS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, SUBSCRIBERS - i) }, () => subscribe(c, 0, latencies, { read: true })),
      );
      subscribers.push(...batch);
    }
    subscribers.push(await subscribe(c, 0, [], { read: false }));
    await sleep(1000);
    const health = await HealthSampler.start(c.serve.url);
    c.rss.reset();
    const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
    let sent = 0;
    let uploadErrors = 0;
    const started = performance.now();
    for (let tick = 0; performance.now() - started < SECONDS * 1000; tick++) {
      const due = started + tick * TICK_MS;
      if (due > performance.now()) await sleep(due - performance.now());
      const sentAt = now();
      const answer = await post(`/api/fleet/jobs/${jobId}/events`, c.tokens.factory, {
        factoryId: 'fanout',
        leaseEpoch,
        events: Array.from({ length: perTick }, (_, i) => ({
          type: 'tool.call',
          payload: { tool: 'read', input: { n: tick * perTick + i, sentAt } },
        })),
      });
      if (answer.status === 200) sent += perTick;
      else uploadErrors++;
      if (tick % 50 === 0)
        await post(`/api/fleet/jobs/${jobId}/lease/renew`, c.tokens.factory, { factoryId: 'fanout', leaseEpoch }).catch(
          () => undefined,
        );
    }
    const sendSeconds = (performance.now() - started) / 1000;
    // What is still on its way arrives within a few seconds, or counts as missing.
    const expected = sent * SUBSCRIBERS;
    const settleUntil = Date.now() + 10_000;
    while (latencies.length < expected && Date.now() < settleUntil) await sleep(100);
    const healthz = await health.stop();
    const rssPeakMb = c.rss.peakMb;
    const p = (q: number): number => percentile(latencies, q);
    printTable(
      'Event to subscriber (ms)',
      [
        'subscribers',
        'events sent',
        'events/s',
        'deliveries',
        'missing',
        'p50',
        'p95',
        'p99',
        'max',
        'healthz p99',
        'RSS peak MB',
        'load avg',
      ],
      [
        [
          SUBSCRIBERS,
          sent,
          sent / sendSeconds,
          latencies.length,
          expected - latencies.length,
          p(50),
          p(95),
          p(99),
          latencies.reduce((max, l) => Math.max(max, l), 0),
          percentile(healthz, 99),
          rssPeakMb,
          load(),
        ],
      ],
    );
    if (uploadErrors > 0) console.log(`   ${String(uploadErrors)} uploads failed`);
    printTargets([
      { name: 'event to subscriber p95', actual: p(95), goal: P95_GOAL_MS, better: 'lower', unit: 'ms' },
      { name: 'deliveries missing', actual: expected - latencies.length, goal: 0, better: 'lower', unit: '' },
      {
        name: '/healthz p99 while fanning out',
        actual: percentile(healthz, 99),
        goal: HEALTHZ_P99_MS,
        better: 'lower',
        unit: 'ms',
      },
      {
        name: 'coordinator RSS peak (one client never reads)',
        actual: rssPeakMb,
        goal: RSS_MB,
        better: 'lower',
        unit: 'MB',
      },
    ]);
  } finally {
    for (const s of subscribers) s.close();
    await pool.close();
    await c.stop();
    await pgServer?.stop();
    removeScratchDirs();
  }
}

await main();
process.exit();
