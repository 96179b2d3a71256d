/**
 * The parked-claims load of issue 12, shared by `npm run bench:load` (`parked-claims.ts`) and
 * `npm run bench:core`: a real `conveyor serve` child process over a database filled with jobs none of
 * the parked claimers can take, `/healthz` sampled every 200 ms from a process of its own, and the child's RSS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { compiledIsCurrent } from '../bin/source-stamp.js';
import { createToken } from '../src/coordinator/auth.js';
import { startServe, type ServeProcess } from '../test/helpers/serve-process.js';
import { newJob } from '../test/helpers/jobs.js';
import { type BackendName, type FreshStore, freshStore } from './conveyor-store.js';
import type { PostgresServer } from './postgres-server.js';
import { percentile } from './report.js';
import { sleep } from './timing.js';

export const PRODUCT = 'bench';
export const SAMPLE_MS = 200;
export const HEALTHZ_P99_MS = 50;
export const RSS_MB = 300;
/** A stuck phase is reported as a miss at this bound rather than waited out. */
export const PHASE_TIMEOUT_MS = 120_000;

/** What the probe process sends: a sample, that it is ready, or the samples still unanswered at stop. */
type ProbeMessage = number | 'ready' | { open: number[] };

/** The probe process: one request first (its connection, not a sample), then one every SAMPLE_MS. */
const PROBE_SCRIPT = `
const http = require('node:http');
const url = process.argv[1] + '/healthz';
const agent = new http.Agent({ keepAlive: true });
let stopped = false;
let timer;
const pending = new Set();
const get = (done) => http.get(url, { agent }, (res) => res.resume().on('end', done).on('error', done)).on('error', done);
const sample = () => {
  if (stopped) return;
  const entry = { started: performance.now() };
  pending.add(entry);
  get(() => {
    if (!pending.delete(entry) || stopped) return;
    process.send(performance.now() - entry.started);
  });
};
get(() => {
  process.send('ready');
  timer = setInterval(sample, ${String(SAMPLE_MS)});
});
process.on('message', () => {
  stopped = true;
  clearInterval(timer);
  // A request still unanswered counts with the time it has waited so far.
  const now = performance.now();
  process.send({ open: [...pending].map((e) => now - e.started) }, () => process.exit(0));
});
// The bench ended without stopping it (it failed, or was killed): no probe outlives it.
process.on('disconnect', () => process.exit(0));
`;

/**
 * `/healthz` every 200 ms from a process of its own, as issue 12 measures it, over one kept-alive
 * connection opened before the load starts. A worker thread shared the bench's process (its client
 * load, its collector) and counted that process's delays as the server's; a connection opened in the
 * middle of a burst of connects measured the kernel's accept queue. Each sample is the time to its
 * answer (or to stop); a failed request counts with the time it took.
 */
export class HealthSampler {
  private readonly samples: number[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: ProbeMessage) => {
      if (typeof m === 'number') this.samples.push(m);
    });
  }

  /** Starts the probe; resolves once its connection is open, so the first sample meets no handshake. */
  static async start(url: string): Promise<HealthSampler> {
    const child = spawn(process.execPath, ['-e', PROBE_SCRIPT, url], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const sampler = new HealthSampler(child);
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null): void => {
        reject(new Error(`the /healthz probe exited (code ${String(code)}) before its first answer`));
      };
      child.once('exit', onExit);
      child.on('message', (m: ProbeMessage) => {
        if (m !== 'ready') return;
        child.off('exit', onExit);
        resolve();
      });
    });
    return sampler;
  }

  async stop(): Promise<number[]> {
    const open = await new Promise<number[]>((resolve) => {
      this.child.on('message', (m: ProbeMessage) => {
        if (typeof m === 'object') resolve(m.open);
      });
      this.child.send('stop');
    });
    return [...this.samples, ...open];
  }
}

/** The child's resident set, sampled every 200 ms; the peak since the last `reset`. */
export class RssSampler {
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

export interface PhaseFigures {
  healthzP50: number;
  healthzP99: number;
  healthzMax: number;
  samples: number;
  rssPeakMb: number;
}

export function figures(samples: number[], rssPeakMb: number): PhaseFigures {
  return {
    healthzP50: percentile(samples, 50),
    healthzP99: percentile(samples, 99),
    healthzMax: Math.max(...samples),
    samples: samples.length,
    rssPeakMb,
  };
}

/** `conveyor serve` as a child process on `db`, killed with the bench should it die; `stop` ends it (SIGTERM). */
export async function serveChild(
  db: string,
  env: Record<string, string> = {},
): Promise<{ serve: ServeProcess; stop: () => Promise<void> }> {
  // bin/conveyor.js runs dist/ only while it matches src/ (an edit under src/ during a run included).
  if (!compiledIsCurrent()) {
    console.warn(
      'bench: dist/ does not match src/, so this `conveyor serve` runs the sources through tsx: npm run build:cli first for figures',
    );
  }
  const serve = await startServe({ db, cwd: process.cwd(), adminToken: undefined, env });
  const kill = (): void => {
    serve.child.kill('SIGKILL');
  };
  process.once('exit', kill);
  return {
    serve,
    async stop() {
      process.off('exit', kill);
      serve.child.kill('SIGTERM');
      await serve.exited;
    },
  };
}

/** A coordinator child process over a database holding `queued` jobs only a `gpu` factory could take. */
export interface LoadedCoordinator {
  backend: BackendName;
  serve: ServeProcess;
  rss: RssSampler;
  tokens: { factory: string; submit: string; admin: string };
  /** The `seq` of the last event written before the coordinator started. */
  lastSeq: number;
  headers(token: string): Record<string, string>;
  stop(): Promise<void>;
}

export async function startLoadedCoordinator(
  backend: BackendName,
  pgServer: PostgresServer | undefined,
  queued: number,
): Promise<LoadedCoordinator> {
  // Fill the database before the coordinator starts: `queued` jobs only a `gpu` factory could take.
  const fresh: FreshStore = await freshStore(backend, pgServer);
  const { store } = fresh;
  const factory = (await createToken(store, { role: 'factory', product: null, label: 'bench' })).secret;
  const submit = (await createToken(store, { role: 'submit', product: null, label: 'bench' })).secret;
  const admin = (await createToken(store, { role: 'admin', product: null, label: 'bench' })).secret;
  const started = Date.now();
  const chunk = 200;
  for (let i = 0; i < queued; i += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, queued - i) }, (_, k) =>
        store.submit(newJob({ product: PRODUCT, title: `gpu ${String(i + k)}`, requiredCapabilities: ['gpu'] })),
      ),
    );
  }
  const lastSeq = (await store.readEvents({ after: 0, product: PRODUCT, limit: 1_000_000 })).at(-1)?.seq ?? 0;
  console.log(`  ${backend}: ${queued.toString()} queued jobs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await store.close();

  const { serve, stop } = await serveChild(fresh.url);
  const rss = new RssSampler(serve.child.pid ?? 0);
  return {
    backend,
    serve,
    rss,
    tokens: { factory, submit, admin },
    lastSeq,
    headers: (token) => ({
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'x-product-id': PRODUCT,
    }),
    async stop() {
      rss.stop();
      await stop();
      await fresh.dispose().catch(() => undefined);
    },
  };
}

export interface ParkedFigures extends PhaseFigures {
  /** From the first submission to the last claim of the claimable jobs (PHASE_TIMEOUT_MS: not all). */
  submitClaimMs: number;
  claimed: number;
}

/**
 * `parked` long-poll claims (re-parked as soon as one answers 204) that none of the queued jobs fit,
 * sampled for `settleMs`; then `claimable` jobs any of them can take submitted one by one, timed until
 * the parked claimers have claimed them all.
 */
export async function parkedPhase(
  c: LoadedCoordinator,
  options: { parked: number; claimable: number; settleMs: number },
): Promise<ParkedFigures> {
  const pool = new Pool(c.serve.url, {
    connections: options.parked + 20,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  let stopParking = false;
  let claimed = 0;
  let allClaimed: (() => void) | undefined;
  const parkers = Array.from({ length: options.parked }, async (_, i) => {
    while (!stopParking) {
      const answer = await pool
        .request({
          method: 'POST',
          path: '/api/fleet/claim',
          headers: c.headers(c.tokens.factory),
          body: JSON.stringify({ factoryId: `parked-${String(i)}`, capabilities: ['node'], waitMs: 30_000 }),
        })
        .catch(() => undefined);
      if (answer === undefined) continue;
      await answer.body.text();
      if (answer.statusCode === 200) {
        claimed++;
        if (claimed >= options.claimable) allClaimed?.();
      }
    }
  });
  await sleep(2000);
  c.rss.reset();
  const sampler = await HealthSampler.start(c.serve.url);
  await sleep(options.settleMs);
  const submitStarted = Date.now();
  const done = new Promise<void>((resolve) => {
    allClaimed = resolve;
  });
  const submitting = (async () => {
    for (let i = 0; i < options.claimable; i++) {
      const answer = await pool.request({
        method: 'POST',
        path: '/api/jobs',
        headers: c.headers(c.tokens.submit),
        body: JSON.stringify({ title: `claimable ${String(i)}`, body: 'noop', repo: 'https://git.example/b.git' }),
      });
      await answer.body.text();
    }
  })();
  // Its last requests fail when the pool is destroyed below.
  submitting.catch(() => undefined);
  await Promise.race([done, sleep(PHASE_TIMEOUT_MS)]);
  const submitClaimMs = claimed >= options.claimable ? Date.now() - submitStarted : PHASE_TIMEOUT_MS;
  const parked = figures(await sampler.stop(), c.rss.peakMb);
  stopParking = true;
  await pool.destroy().catch(() => undefined);
  await Promise.allSettled([...parkers, submitting]);
  return { ...parked, submitClaimMs, claimed };
}

/** One API call through `pool` with `token`: its status and JSON body. */
export async function send(
  pool: Pool,
  c: LoadedCoordinator,
  path: string,
  token: string,
  body: unknown,
  method: 'POST' | 'PATCH' = 'POST',
): Promise<{ status: number; body: unknown }> {
  const answer = await pool.request({ method, path, headers: c.headers(token), body: JSON.stringify(body) });
  const text = await answer.body.text();
  return { status: answer.statusCode, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}
