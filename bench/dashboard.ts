/**
 * The dashboard benchmark (`npm run bench:dashboard [-- --changes N] [-- --jobs N]`), in Debian's
 * Chromium against an in-process coordinator on a fresh SQLite file (HTTP on 127.0.0.1):
 *
 * 1. Event-to-screen latency: a factory reports a stage (`PATCH /api/fleet/jobs/:id` with the epoch);
 *    the page's MutationObserver sees the card in the new column and waits for the next frame. The
 *    latency is that frame's wall-clock time minus the moment the PATCH was sent (both
 *    `performance.timeOrigin + performance.now()`, one machine). One change at a time, 200 by default.
 * 2. A board of 10 000 jobs (9 000 queued, 1 000 shipped, in their own product): time from navigation
 *    to the first cards on screen, then a scroll through the whole queued column (pages load as it
 *    goes) with a PerformanceObserver counting long tasks (> 50 ms) and timing frames.
 *
 * A script that prints figures; not a test.
 */
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchChromium } from '../test/helpers/browser.js';
import { type BenchCoordinator, startBenchCoordinator } from './coordinator.js';
import { percentile, printSettings, printTable, printTargets } from './report.js';
import { benchArgs, intFlag } from './args.js';

const USAGE = 'usage: npm run bench:dashboard -- [--changes N] [--jobs N]';
const values = benchArgs(USAGE, {
  changes: { type: 'string', default: '200' },
  jobs: { type: 'string', default: '10000' },
});
const changes = intFlag(values.changes, '--changes', USAGE);
const totalJobs = intFlag(values.jobs, '--jobs', USAGE, 10);
const shippedJobs = Math.round(totalJobs / 10);
const queuedJobs = totalJobs - shippedJobs;
const BIG_PRODUCT = 'bench10k';
/** A factory id belongs to one product. */
const factoryOf = (product: string | undefined): string => `bench-factory-${product ?? 'default'}`;
const LATENCY_TARGET_MS = 250;
const FIRST_RENDER_TARGET_MS = 1500;
/** Pixels scrolled per frame: about twelve cards, a fast flick held down. */
const SCROLL_PX_PER_FRAME = 1200;

const now = (): number => performance.timeOrigin + performance.now();

interface Server extends BenchCoordinator {
  admin: string;
  factory: string;
}

async function startServer(): Promise<Server> {
  const bench = await startBenchCoordinator('dashboard');
  return { ...bench, admin: await bench.token('admin'), factory: await bench.token('factory') };
}

async function call<T>(
  server: Server,
  method: string,
  path: string,
  options: { token?: string; product?: string; json?: unknown } = {},
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? server.admin}` };
  if (options.product !== undefined) headers['x-product-id'] = options.product;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Runs `work` over 0..count-1 with `parallel` at a time. */
async function pool(count: number, parallel: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

async function submit(server: Server, product: string | undefined, title: string): Promise<string> {
  const job = await call<{ id: string }>(server, 'POST', '/api/jobs', {
    ...(product === undefined ? {} : { product }),
    json: {
      title,
      body: `Benchmark task: ${title}`,
      repo: 'https://git.example/bench.git',
      agent: { runtime: 'command', run: 'true' },
    },
  });
  return job.id;
}

async function claim(server: Server, product: string | undefined): Promise<{ id: string; epoch: number }> {
  const claimed = await call<{ job: { id: string }; leaseEpoch: number }>(server, 'POST', '/api/fleet/claim', {
    token: server.factory,
    ...(product === undefined ? {} : { product }),
    json: { factoryId: factoryOf(product), capabilities: [] },
  });
  return { id: claimed.job.id, epoch: claimed.leaseEpoch };
}

async function report(
  server: Server,
  product: string | undefined,
  job: { id: string; epoch: number },
  stage: string,
): Promise<void> {
  await call(server, 'PATCH', `/api/fleet/jobs/${job.id}`, {
    token: server.factory,
    ...(product === undefined ? {} : { product }),
    json: { stage, leaseEpoch: job.epoch },
  });
}

/** Signs the page in (token and product in localStorage, as the sign-in form leaves them). */
async function signIn(page: Page, server: Server, product: string): Promise<void> {
  await page.addInitScript(
    `localStorage.setItem('conveyor.token', ${JSON.stringify(server.admin)}); localStorage.setItem('conveyor.product', ${JSON.stringify(product)});`,
  );
}

/** Page-side code, as strings: the page has the DOM, this process does not (and its tsconfig has no DOM types). */
const WATCH = `
window.__watch = (id, stage) => {
  const selector = '[data-stage="' + stage + '"] [data-job-id="' + id + '"]';
  window.__seen = new Promise((resolve) => {
    const found = () => {
      if (document.querySelector(selector) === null) return false;
      requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
      return true;
    };
    if (found()) return;
    const observer = new MutationObserver(() => { if (found()) observer.disconnect(); });
    observer.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-job-id'] });
  });
};`;

const FIRST_RENDER = `
window.__longTasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration }); })
  .observe({ type: 'longtask', buffered: true });
window.__firstCards = new Promise((resolve) => {
  const check = () => document.querySelector('[data-stage="queued"] [data-job-id]') !== null;
  const observer = new MutationObserver(() => {
    if (check()) { observer.disconnect(); requestAnimationFrame(() => resolve(performance.now())); }
  });
  document.addEventListener('DOMContentLoaded', () => observer.observe(document.body, { childList: true, subtree: true }));
});`;

const SCROLL = `
(async (step, expected) => {
  const scroller = document.querySelector('[data-scroller="queued"]');
  const count = () => Number(document.querySelector('[data-stage="queued"] .count').dataset.count);
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const startedAt = performance.now();
  const frames = [];
  let last = performance.now();
  for (;;) {
    scroller.scrollTop += step;
    const t = await frame();
    frames.push(t - last);
    last = t;
    const atEnd = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2;
    if (atEnd && count() >= expected) break;
    if (performance.now() - startedAt > 180000) throw new Error('scroll did not reach the end in 3 minutes');
  }
  const endedAt = performance.now();
  const tasks = window.__longTasks.filter((t) => t.start >= startedAt && t.start <= endedAt);
  return { ms: endedAt - startedAt, frames, cards: count(), longTasks: tasks.length, longestTask: Math.max(0, ...tasks.map((t) => t.duration)) };
})`;

/** Per change: until the card is on screen, and until the PATCH was answered (the store's commit included). */
interface LatencySamples {
  toScreen: number[];
  patch: number[];
}

async function latency(server: Server, page: Page): Promise<LatencySamples> {
  await call(server, 'POST', '/api/fleet/factories/heartbeat', {
    token: server.factory,
    json: { factoryId: factoryOf(undefined), capabilities: [], health: 'ok', load: 0, slots: changes },
  });
  const claimed: { id: string; epoch: number }[] = [];
  for (let i = 0; i < changes; i++) {
    await submit(server, undefined, `Latency job ${i}`);
    claimed.push(await claim(server, undefined));
  }
  await signIn(page, server, '');
  await page.goto(server.url);
  await page.locator('[data-testid="live-status"]', { hasText: 'live' }).waitFor();
  await page
    .locator(`[data-stage="assigned"] [data-job-id="${claimed.at(-1)?.id ?? ''}"]`)
    .waitFor({ state: 'attached' });
  await page.evaluate(WATCH);
  const samples: LatencySamples = { toScreen: [], patch: [] };
  // Oldest first: each moved card is the newest in its new column, so it lands at the top, in view.
  for (const job of claimed) {
    await page.evaluate(`window.__watch(${JSON.stringify(job.id)}, 'building')`);
    const sent = now();
    await report(server, undefined, job, 'building');
    samples.patch.push(now() - sent);
    const seen = await page.evaluate<number>('window.__seen');
    samples.toScreen.push(seen - sent);
  }
  return samples;
}

interface ScrollResult {
  ms: number;
  frames: number[];
  cards: number;
  longTasks: number;
  longestTask: number;
}

async function bigBoard(server: Server, page: Page): Promise<{ firstRenderMs: number; scroll: ScrollResult }> {
  await call(server, 'POST', '/api/fleet/factories/heartbeat', {
    token: server.factory,
    product: BIG_PRODUCT,
    json: { factoryId: factoryOf(BIG_PRODUCT), capabilities: [], health: 'ok', load: 0, slots: 100 },
  });
  await pool(shippedJobs, 8, async (i) => {
    await submit(server, BIG_PRODUCT, `Shipped job ${i}`);
  });
  await pool(shippedJobs, 8, async () => {
    const job = await claim(server, BIG_PRODUCT);
    await report(server, BIG_PRODUCT, job, 'building');
    await report(server, BIG_PRODUCT, job, 'testing');
    await report(server, BIG_PRODUCT, job, 'shipped');
  });
  await pool(queuedJobs, 16, async (i) => {
    await submit(server, BIG_PRODUCT, `Queued job ${i} — add a feature to module ${i % 97}`);
  });

  await signIn(page, server, BIG_PRODUCT);
  await page.addInitScript(FIRST_RENDER);
  await page.goto(server.url);
  const firstRenderMs = await page.evaluate<number>('window.__firstCards');
  await page.locator('[data-stage="shipped"] [data-job-id]').first().waitFor();
  const scroll = await page.evaluate<ScrollResult>(`${SCROLL}(${SCROLL_PX_PER_FRAME}, ${queuedJobs})`);
  return { firstRenderMs, scroll };
}

async function main(): Promise<void> {
  ensureWebBuilt();
  const server = await startServer();
  const browser = await launchChromium();
  try {
    printSettings('Dashboard benchmark', [
      ['browser', `Chromium ${browser.version()} (headless)`],
      ['store', 'SQLite (fresh file), coordinator in-process on 127.0.0.1'],
      ['latency', `${changes} stage changes, one at a time`],
      ['big board', `${totalJobs} jobs (${queuedJobs} queued, ${shippedJobs} shipped), window 1440×900`],
    ]);
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const latencyPage = await context.newPage();
    const { toScreen: samples, patch } = await latency(server, latencyPage);
    await latencyPage.close();
    const row = (what: string, values: number[]): (string | number)[] => [
      what,
      values.length,
      percentile(values, 50),
      percentile(values, 95),
      percentile(values, 99),
      Math.max(...values),
    ];
    printTable(
      'Event-to-screen latency (PATCH sent → card in the new column, next frame)',
      ['from PATCH sent to', 'changes', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [row('card on screen', samples), row('PATCH answered', patch)],
    );

    const bigContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const bigPage = await bigContext.newPage();
    const { firstRenderMs, scroll } = await bigBoard(server, bigPage);
    printTable(
      `Board of ${totalJobs} jobs`,
      [
        'first render ms',
        'scrolled cards',
        'scroll s',
        'frames',
        'frame p50 ms',
        'frame p95 ms',
        'long tasks',
        'longest ms',
      ],
      [
        [
          firstRenderMs,
          scroll.cards,
          scroll.ms / 1000,
          scroll.frames.length,
          percentile(scroll.frames, 50),
          percentile(scroll.frames, 95),
          scroll.longTasks,
          scroll.longestTask,
        ],
      ],
    );
    printTargets([
      {
        name: 'event-to-screen p95',
        actual: percentile(samples, 95),
        goal: LATENCY_TARGET_MS,
        better: 'lower',
        unit: 'ms',
      },
      {
        name: `first render, ${totalJobs} jobs`,
        actual: firstRenderMs,
        goal: FIRST_RENDER_TARGET_MS,
        better: 'lower',
        unit: 'ms',
      },
    ]);
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
