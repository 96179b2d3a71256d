/**
 * The dashboard in a real Chromium (playwright-core, Debian's build) against a real coordinator on
 * loopback serving the built `web/dist`. The fleet is driven over its HTTP API (heartbeat, claim,
 * stage reports with the epoch, job events), so what the page shows comes from the same stream a
 * real factory causes. Screenshots go to artifacts/screenshots/. The pure parts of the dashboard
 * (the SSE parser, the board's merge of pages and events, the submit form's error mapping) are
 * tested at the end without a browser.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCoordinator } from '../src/coordinator/app.js';
import type { JobView } from '../src/protocol/views.js';
import { SseParser } from '../web/src/api/sse.js';
import { BoardStore } from '../web/src/board/board-store.js';
import { agentLabel } from '../web/src/format.js';
import { fieldOf } from '../web/src/submit/field-of.js';
import { chromiumPath, ensureWebBuilt, launchChromium } from './helpers/browser.js';
import { DEFAULT_TEST_OPTIONS, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { until } from './helpers/factory-process.js';

const SHOTS = resolve(import.meta.dirname, '..', 'artifacts', 'screenshots');
const FACTORY = 'factory-1';
const WAIT_MS = 10_000;

describe('dashboard in Chromium', () => {
  let tc: TestCoordinator;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const jobs: Record<'queued' | 'building' | 'shipped' | 'failed', string> = {
    queued: '',
    building: '',
    shipped: '',
    failed: '',
  };
  const epochs = new Map<string, number>();
  /** Undone in reverse order, whatever part of the setup succeeded. */
  const cleanups: (() => Promise<void>)[] = [];

  const submit = async (title: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const answer = await tc.call('POST', '/api/jobs', {
      json: { title, body: `Task: ${title}`, repo: 'https://git.example/app.git', ...extra },
    });
    expect(answer.status).toBe(201);
    return answer.body.id as string;
  };
  const heartbeat = async (): Promise<{ drain: boolean }> => {
    const answer = await tc.call('POST', '/api/fleet/factories/heartbeat', {
      token: tc.tokens.factory,
      json: { factoryId: FACTORY, capabilities: ['node', 'git'], health: 'ok', load: 1, slots: 2, version: 'test' },
    });
    expect(answer.status).toBe(200);
    return { drain: answer.body.drain as boolean };
  };
  /** Claims the next job (the one just submitted: nothing else is queued then) and checks it is `id`. */
  const claim = async (id: string): Promise<void> => {
    const answer = await tc.call('POST', '/api/fleet/claim', {
      token: tc.tokens.factory,
      json: { factoryId: FACTORY, capabilities: ['node', 'git'] },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.job.id).toBe(id);
    epochs.set(id, answer.body.leaseEpoch as number);
  };
  const report = async (id: string, stage: string, extra: Record<string, unknown> = {}): Promise<void> => {
    const answer = await tc.call('PATCH', `/api/fleet/jobs/${id}`, {
      token: tc.tokens.factory,
      json: { factoryId: FACTORY, stage, leaseEpoch: epochs.get(id), ...extra },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  };
  const card = (stage: string, id: string): string => `[data-stage="${stage}"] [data-job-id="${id}"]`;
  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    // First: without Chromium, say what to install before building or starting anything.
    chromiumPath();
    ensureWebBuilt();
    mkdirSync(SHOTS, { recursive: true });
    tc = await startTestCoordinator('sqlite');
    cleanups.push(() => tc.close());
    browser = await launchChromium();
    cleanups.push(() => browser.close());
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void dialog.accept());

    // One job per kind of column, each moved there by the fleet protocol.
    await heartbeat();
    jobs.shipped = await submit('Add tagging support', { agent: { runtime: 'builtin', model: 'small' } });
    await claim(jobs.shipped);
    await report(jobs.shipped, 'building');
    await report(jobs.shipped, 'testing');
    await report(jobs.shipped, 'shipped', {
      result: {
        summary: 'Tags can be added and listed.',
        usage: { llmCalls: 3, inputTokens: 12_000, outputTokens: 800, cachedTokens: 0, costUsd: 0.042 },
        verify: [{ command: 'npm test', exitCode: 0, timedOut: false, durationMs: 1200, outputTail: '12 passing' }],
        ship: { policy: 'merge', commit: '0123456789abcdef0123456789abcdef01234567', alreadyShipped: false },
        diff: {
          files: ['src/tags.ts'],
          bytes: 120,
          patch: '--- /dev/null\n+++ b/src/tags.ts\n@@ -0,0 +1 @@\n+export const tags: string[] = [];\n',
          truncated: false,
        },
      },
    });
    jobs.building = await submit('Fix the parser', { agent: { runtime: 'command', run: 'true' } });
    await claim(jobs.building);
    await report(jobs.building, 'building');
    jobs.failed = await submit('Port to Windows');
    await claim(jobs.failed);
    await report(jobs.failed, 'failed', {
      error: { code: 'no_runner', message: 'no Windows runner', retryable: false },
    });
    jobs.queued = await submit('Write the changelog');
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('signs in with a token and shows the seeded jobs in their stage columns', async () => {
    await page.goto(tc.url);
    await page.getByLabel('Token').fill(tc.tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator(card('queued', jobs.queued)).waitFor();
    await page.locator(card('building', jobs.building)).waitFor();
    await page.locator(card('shipped', jobs.shipped)).waitFor();
    await page.locator('[data-testid="live-status"]', { hasText: 'live' }).waitFor();

    const shipped = await page.locator(card('shipped', jobs.shipped)).innerText();
    expect(shipped).toContain('Add tagging support');
    expect(shipped).toContain('builtin · small');
    expect(shipped).toContain('13k tok');
    expect(shipped).toContain('$0.04');
    const building = await page.locator(card('building', jobs.building)).innerText();
    expect(building).toContain(FACTORY);

    // The stopped stages share the side column.
    await page.getByLabel('stopped stage').selectOption('failed');
    await page.locator(card('failed', jobs.failed)).waitFor();
    expect(await page.evaluate('localStorage.getItem("conveyor.token")')).toBe(tc.tokens.admin);
    await shot('board');
  });

  it('shows failures at a glance at 1280 px: the side column on screen, on failed, the card with its error', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      // A fresh page: the side column's stage is the board's choice, not the one picked above.
      await page.goto(tc.url);
      const failed = page.locator(card('failed', jobs.failed));
      await failed.waitFor();
      expect(await page.getByLabel('stopped stage').inputValue()).toBe('failed');
      expect(await page.getByLabel('stopped stage').locator('option:checked').innerText()).toBe('failed (1)');
      const error = failed.locator('.card-error');
      expect(await error.innerText()).toContain('no Windows runner');
      expect(await error.getAttribute('title')).toBe('no_runner: no Windows runner');
      // Every column, the side one included, is inside the viewport; the page does not scroll sideways.
      for (const column of await page.locator('.column').all()) {
        const box = (await column.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(1280);
      }
      const box = (await failed.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(1280);
      expect(box.y + box.height).toBeLessThanOrEqual(800);
      expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      await shot('board-1280');
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  it('moves a card to its new column as soon as the factory reports the stage', async () => {
    await report(jobs.building, 'review');
    await page.locator(card('review', jobs.building)).waitFor();
    expect(await page.locator(card('building', jobs.building)).count()).toBe(0);
  });

  it('filters the board by text (server-side) and by agent', async () => {
    await page.getByRole('searchbox').fill('tagging');
    await until('the text filter', async () =>
      (await page.locator('[data-job-id]').count()) === 1 ? true : undefined,
    );
    await page.locator(card('shipped', jobs.shipped)).waitFor();
    await page.getByRole('searchbox').fill('');
    await page.locator(card('queued', jobs.queued)).waitFor();
    await page.getByLabel('Agent').selectOption('command');
    await until('the agent filter', async () =>
      (await page.locator('[data-job-id]').count()) === 1 ? true : undefined,
    );
    await page.locator(card('review', jobs.building)).waitFor();
    await page.getByLabel('Agent').selectOption('');
    await page.locator(card('queued', jobs.queued)).waitFor();
  });

  it('resumes the live stream after the connection drops, without missing what happened meanwhile', async () => {
    // Every connection dies (the page's stream included); the report lands before the page reconnects.
    tc.coordinator.app.server.closeAllConnections();
    // Let this process's own pooled connection notice it was closed (the page backs off ≥ 500 ms).
    await new Promise((r) => setTimeout(r, 50));
    await report(jobs.building, 'testing');
    await page.locator(card('testing', jobs.building)).waitFor();
    await page.locator('[data-testid="live-status"]', { hasText: 'live' }).waitFor();
    await report(jobs.building, 'building');
    await page.locator(card('building', jobs.building)).waitFor();
  });

  it('opens a job and shows its timeline, runs and skills updating live; replayed runs say "replay"', async () => {
    await page.locator(card('building', jobs.building)).click();
    await page.waitForURL(`**/jobs/${jobs.building}`);
    await page.locator('.timeline').getByText('testing → building').waitFor();
    expect(await page.getByTestId('job-stage').textContent()).toBe('building');
    expect(await page.locator('.runs').innerText()).toContain(FACTORY);

    const events = await tc.call('POST', `/api/fleet/jobs/${jobs.building}/events`, {
      token: tc.tokens.factory,
      json: {
        factoryId: FACTORY,
        leaseEpoch: epochs.get(jobs.building),
        events: [
          { type: 'skills.selected', payload: { skills: ['test-driven-development'] } },
          {
            type: 'llm.call',
            payload: {
              runtime: 'builtin',
              provider: 'replay',
              model: 'demo',
              inputTokens: 900,
              outputTokens: 40,
              replay: true,
            },
          },
        ],
      },
    });
    expect(events.status, JSON.stringify(events.body)).toBe(200);
    await report(jobs.building, 'review');
    await page.locator('.timeline li', { hasText: 'building → review' }).nth(1).waitFor();
    await page.locator('[data-testid="job-stage"]', { hasText: 'review' }).waitFor();
    await page.locator('.skills').getByText('test-driven-development').waitFor();
    await page.locator('.facts dd', { hasText: /^replay$/ }).waitFor();
    await page.locator('.timeline').getByText('replay · 900 in / 40 out').waitFor();
    await shot('job');

    // The board learned it from the same stream.
    await page.getByRole('link', { name: 'Board', exact: true }).click();
    const moved = page.locator(card('review', jobs.building));
    await moved.waitFor();
    expect(await moved.locator('.tag-replay').innerText()).toBe('replay');
  });

  it('shows a job’s newest events first and loads earlier ones on demand', async () => {
    const before = (await tc.call('GET', `/api/jobs/${jobs.building}/events`)).body as unknown[];
    // 600 tool calls from the lease holder: more than one page of the timeline.
    for (let batch = 0; batch < 2; batch++) {
      const answer = await tc.call('POST', `/api/fleet/jobs/${jobs.building}/events`, {
        token: tc.tokens.factory,
        json: {
          factoryId: FACTORY,
          leaseEpoch: epochs.get(jobs.building),
          events: Array.from({ length: 300 }, (_, i) => ({
            type: 'tool.call',
            payload: { tool: 'read', input: { path: `f${String(batch * 300 + i)}.ts` } },
          })),
        },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    }
    const total = before.length + 600;
    // A newer job: the live stream starts after it, so the page, not the stream's replay, brings the events.
    await submit('Update the docs');
    await page.goto(`${tc.url}/jobs/${jobs.building}`);
    const items = page.locator('.timeline > li');
    await page.getByRole('button', { name: 'Load earlier events' }).waitFor();
    expect(await items.count()).toBe(500);
    await page.getByRole('button', { name: 'Load earlier events' }).click();
    await page.getByRole('button', { name: 'Load earlier events' }).waitFor({ state: 'detached' });
    expect(await items.count()).toBe(total);
    // In order, the job's first event at the top.
    const seqs = await items.evaluateAll((nodes: { getAttribute(name: string): string | null }[]) =>
      nodes.map((node) => Number(node.getAttribute('data-seq'))),
    );
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await page.getByRole('link', { name: 'Board', exact: true }).click();
  });

  it('shows the result of a shipped job', async () => {
    await page.locator(card('shipped', jobs.shipped)).click();
    await page.getByText('Tags can be added and listed.').waitFor();
    const result = await page.locator('.result').innerText();
    expect(result).toContain('0123456789ab');
    expect(result).toContain('npm test');
    expect(result).toContain('12k in');
    // The diff of the result, its added line marked as one.
    expect(await page.locator('.diff .diff-add').innerText()).toBe('+export const tags: string[] = [];\n');
    expect(await page.locator('.diff .diff-file').first().innerText()).toContain('/dev/null');
  });

  it('shows a decomposed job with its subtasks, and a subtask with its parent', async () => {
    // Claimed ahead of the queued jobs the board already shows.
    const parent = await submit('Split the importer', { priority: 10 });
    await claim(parent);
    await report(parent, 'building');
    const split = await tc.call('POST', `/api/fleet/jobs/${parent}/subtasks`, {
      token: tc.tokens.factory,
      json: {
        factoryId: FACTORY,
        leaseEpoch: epochs.get(parent),
        subtasks: [
          { title: 'Parse the CSV', body: 'Parse it.' },
          { title: 'Load the rows', body: 'Load them.', after: [1] },
        ],
      },
    });
    expect(split.status, JSON.stringify(split.body)).toBe(201);
    await page.goto(`${tc.url}/jobs/${parent}`);
    await page.locator('.subtasks li').nth(1).waitFor();
    expect(await page.locator('.subtasks li').allInnerTexts()).toEqual([
      expect.stringMatching(/^1\/2 Parse the CSV\s+queued/i),
      expect.stringMatching(/^2\/2 Load the rows\s+queued/i),
    ]);
    await page.getByRole('link', { name: 'Parse the CSV' }).click();
    await page.getByRole('heading', { name: 'Parse the CSV' }).waitFor();
    expect(await page.locator('.facts').innerText()).toMatch(/Subtask\s+1\/2 of its parent/);
    await shot('subtasks');
  });

  it('links a job that came from a forge issue to the issue, and never a page that is not http(s)', async () => {
    const fromIssue = await submit('Fix the login form', {
      metadata: { forge: { forge: 'gh', repo: 'acme/web', issue: 7, url: 'https://github.com/acme/web/issues/7' } },
    });
    await page.goto(`${tc.url}/jobs/${fromIssue}`);
    const link = page.getByTestId('job-issue').getByRole('link', { name: 'acme/web#7' });
    expect(await link.getAttribute('href')).toBe('https://github.com/acme/web/issues/7');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');

    const forged = await submit('Fix the signup form', {
      metadata: { forge: { forge: 'gh', repo: 'acme/web', issue: 8, url: 'javascript:alert(1)' } },
    });
    await page.goto(`${tc.url}/jobs/${forged}`);
    await page.getByRole('heading', { name: 'Fix the signup form' }).waitFor();
    expect(await page.getByTestId('job-issue').innerText()).toBe('acme/web#8');
    expect(await page.getByTestId('job-issue').locator('a').count()).toBe(0);
  });

  it('submits a job through the form, showing the API’s validation errors next to their fields', async () => {
    await page.getByRole('link', { name: 'Submit' }).click();
    await page.getByLabel('Title').fill('Add dark mode');
    await page.getByLabel('Model').fill('small');
    await page.getByRole('button', { name: 'Submit' }).click();
    // An empty body and a model without a runtime: two fields named by error.details[].path.
    await page.locator('[data-field="body"]').waitFor();
    await page.locator('[data-field="runtime"]').waitFor();
    await shot('submit-errors');

    await page.getByLabel('Task (Markdown)').fill('## Dark mode\n\nFollow the system setting.');
    await page.getByLabel('Repository').fill('../bookmarks');
    await page.getByLabel('Pipeline').fill('solo');
    await page.getByLabel('Agent runtime').selectOption('command');
    await page.getByLabel('Command', { exact: true }).fill('echo dark');
    await page.getByLabel('Verify commands (one per line)').fill('npm test\nnpm run lint');
    await page.getByLabel('Ship').selectOption('branch');
    await page.getByRole('button', { name: 'Submit' }).click();
    // A relative path means nothing to the coordinator: refused next to the field, naming the fix.
    await page.locator('[data-field="repo"]', { hasText: 'relative path' }).waitFor();
    await page.getByLabel('Repository').fill('/srv/repos/bookmarks');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/\/jobs\/[0-9A-Z]{26}$/);
    await page.getByRole('heading', { name: 'Add dark mode' }).waitFor();
    const id = page.url().split('/').at(-1)!;
    const job = (await tc.call('GET', `/api/jobs/${id}`)).body as JobView;
    expect(job).toMatchObject({
      title: 'Add dark mode',
      repo: '/srv/repos/bookmarks',
      pipeline: 'solo',
      agent: { runtime: 'command', model: 'small', run: 'echo dark' },
      verify: ['npm test', 'npm run lint'],
      ship: 'branch',
      stage: 'queued',
    });
    jobs.queued = id;
  });

  it('cancels a job', async () => {
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('[data-testid="job-stage"]', { hasText: 'cancelled' }).waitFor();
    expect((await tc.call('GET', `/api/jobs/${jobs.queued}`)).body.stage).toBe('cancelled');
    await page.getByRole('button', { name: 'Retry' }).waitFor();
  });

  it('drains a factory from the fleet page', async () => {
    await page.getByRole('link', { name: 'Fleet' }).click();
    const factory = page.locator(`[data-factory-id="${FACTORY}"]`);
    await factory.getByText('Fix the parser').waitFor();
    expect(await factory.getByTestId('factory-health').textContent()).toBe('ok');
    await factory.getByRole('button', { name: 'Drain' }).click();
    await factory.locator('[data-testid="factory-health"]', { hasText: 'draining' }).waitFor();
    expect((await heartbeat()).drain).toBe(true);
    await shot('fleet');
  });

  it('signs in through a one-time link, which works once', async () => {
    const code = tc.coordinator.loginCodes.issue();
    const fresh = await browser.newContext();
    try {
      const other = await fresh.newPage();
      other.setDefaultTimeout(WAIT_MS);
      await other.goto(`${tc.url}/login#code=${code}`);
      await other.locator('[data-testid="board"]').waitFor();
      expect(new URL(other.url()).hash).toBe('');
      const token = await other.evaluate<string | null>('localStorage.getItem("conveyor.token")');
      expect(token).toMatch(/^cvy_/);
      expect((await tc.call('GET', '/api/jobs?limit=1', { token: token! })).status).toBe(200);

      await other.evaluate('localStorage.clear()');
      await other.goto(`${tc.url}/login#code=${code}`);
      await other.getByText('That login link did not work').waitFor();
    } finally {
      await fresh.close();
    }
  });

  it('fits a narrow window', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Board', exact: true }).click();
    await page.locator(card('shipped', jobs.shipped)).waitFor({ state: 'attached' });
    // The board scrolls sideways inside itself; the page does not.
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await shot('board-narrow');
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('raised no errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});

describe('dashboard files over HTTP', () => {
  let tc: TestCoordinator;
  beforeAll(async () => {
    // First: without Chromium, say what to install before building or starting anything.
    chromiumPath();
    ensureWebBuilt();
    tc = await startTestCoordinator('sqlite');
  });
  afterAll(async () => {
    await tc.close();
  });

  it('serves index.html for app paths, hashed assets for good, and keeps the API’s JSON 404', async () => {
    const shell = await fetch(`${tc.url}/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(shell.headers.get('cache-control')).toBe('no-cache');
    const html = await shell.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(`${tc.url}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const again = await fetch(`${tc.url}${asset}`, { headers: { 'if-none-match': script.headers.get('etag')! } });
    expect(again.status).toBe(304);

    expect((await fetch(`${tc.url}/assets/missing-abc.js`)).status).toBe(404);
    const api = await tc.call('GET', '/api/nothing-here');
    expect(api.status).toBe(404);
    expect(api.body.error.code).toBe('not_found');
    expect((await fetch(`${tc.url}/index.html`, { method: 'POST' })).status).toBe(404);
  });

  it('never serves a file outside web/dist', async () => {
    for (const path of [
      '/..%2fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/%00',
    ]) {
      const answer = await fetch(`${tc.url}${path}`);
      const text = await answer.text();
      expect(text, path).not.toContain('"devDependencies"');
    }
  });

  it('says how to build the dashboard when web/dist is missing', async () => {
    const coordinator = await buildCoordinator({
      ...DEFAULT_TEST_OPTIONS,
      store: tc.store,
      logger: pino({ level: 'silent' }),
      webRoot: join(tmpdir(), 'conveyor-no-dashboard-here', 'dist'),
    });
    try {
      const json = await coordinator.app.inject({ method: 'GET', url: '/' });
      expect(json.statusCode).toBe(503);
      expect(json.json().error.message).toContain('npm run build:web');
      const html = await coordinator.app.inject({ method: 'GET', url: '/fleet', headers: { accept: 'text/html' } });
      expect(html.statusCode).toBe(503);
      expect(html.body).toContain('npm run build:web');
    } finally {
      await coordinator.close();
    }
  });

  it('exchanges a login code once for a new admin token', async () => {
    const code = tc.coordinator.loginCodes.issue();
    const first = await tc.call('POST', '/api/login', { token: '', json: { code } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ role: 'admin', product: null });
    expect((await tc.call('GET', '/metrics', { token: first.body.token })).status).toBe(200);
    const second = await tc.call('POST', '/api/login', { token: '', json: { code } });
    expect(second.status).toBe(401);
    expect(second.body.error.code).toBe('unauthenticated');
    expect((await tc.call('POST', '/api/login', { token: '', json: { code: 'guess' } })).status).toBe(401);
  });
});

describe('dashboard logic', () => {
  it('parses Server-Sent Events split anywhere, with any line ending', () => {
    const stream = ': connected\r\n\r\nid: 1\nevent: job.created\ndata: {"a":1}\n\nid: 2\r\ndata: x\r\ndata: y\r\n\r\n';
    for (let size = 1; size <= stream.length; size++) {
      const parser = new SseParser();
      const messages = [];
      for (let i = 0; i < stream.length; i += size) messages.push(...parser.push(stream.slice(i, i + size)));
      expect(messages, `chunks of ${size}`).toEqual([
        { id: '1', event: 'job.created', data: '{"a":1}' },
        { id: '2', event: 'message', data: 'x\ny' },
      ]);
      expect(parser.lastEventId).toBe('2');
    }
  });

  const job = (id: string, stage: JobView['stage'], updatedAt: string): JobView =>
    ({
      id,
      stage,
      title: id,
      body: '',
      updatedAt,
      createdAt: updatedAt,
      lease: null,
      leaseEpoch: 0,
      result: null,
    }) as unknown as JobView;
  const event = (jobId: string, type: string, at: string, payload: Record<string, unknown>) =>
    ({ seq: 1, at, product: 'default', jobId, epoch: 1, type, actor: 'factory', payload }) as const;

  it('keeps the newer of a page and a live event, whichever arrives first', () => {
    const store = new BoardStore();
    const A = '01J0000000000000000000000A';
    const B = '01J0000000000000000000000B';
    store.applyPage('queued', store.generation, [job(B, 'queued', '2026-01-01T00:00:00.000Z')], null);
    store.applyPage('building', store.generation, [], null);
    store.applyPage('review', store.generation, [], null);
    // An event newer than the page moves the card; an older one (replayed) does not move it back.
    expect(
      store.applyEvent(event(B, 'stage.changed', '2026-01-01T00:00:02.000Z', { from: 'queued', to: 'building' })),
    ).toEqual({ id: B, missing: false });
    expect(store.column('building').ids).toEqual([B]);
    store.applyEvent(event(B, 'job.created', '2026-01-01T00:00:00.000Z', { to: 'queued' }));
    expect(store.column('building').ids).toEqual([B]);
    // A page read before the event does not undo it either.
    store.applyPage(
      'queued',
      store.generation,
      [job(B, 'queued', '2026-01-01T00:00:00.000Z'), job(A, 'queued', '2026-01-01T00:00:00.000Z')],
      null,
    );
    expect(store.column('queued').ids).toEqual([A]);
    expect(store.column('building').ids).toEqual([B]);
    // An unknown job is fetched when it lands where the board has loaded.
    expect(
      store.applyEvent(
        event('01J0000000000000000000000C', 'job.created', '2026-01-01T00:00:03.000Z', { to: 'queued' }),
      ),
    ).toEqual({ id: '01J0000000000000000000000C', missing: true });
    // One older than the loaded part of a column that has more pages comes with that page, not now.
    store.applyPage('shipped', store.generation, [job(B, 'shipped', '2026-01-01T00:00:05.000Z')], B);
    expect(
      store.applyEvent(event(A, 'stage.changed', '2026-01-01T00:00:06.000Z', { from: 'queued', to: 'shipped' })),
    ).toEqual({ id: A, missing: false });
    expect(
      store.applyEvent(
        event('01J00000000000000000000009', 'stage.changed', '2026-01-01T00:00:06.000Z', { to: 'shipped' }),
      ),
    ).toBeUndefined();
    // Pages of an earlier filter are dropped.
    const old = store.generation;
    store.reset({ text: 'x' });
    store.applyPage('queued', old, [job(A, 'queued', '2026-01-01T00:00:00.000Z')], null);
    expect(store.column('queued').ids).toEqual([]);
    // A replayed llm.call marks the job.
    store.applyEvent(event(A, 'llm.call', '2026-01-01T00:00:04.000Z', { replay: true }));
    expect(store.replayed.has(A)).toBe(true);
    expect(agentLabel(job(A, 'queued', '2026-01-01T00:00:00.000Z'), true)).toBe('replay');
  });

  it('maps API error paths to the submit form’s fields', () => {
    expect(fieldOf('body.title')).toBe('title');
    expect(fieldOf('body.body')).toBe('body');
    expect(fieldOf('body.agent.runtime')).toBe('runtime');
    expect(fieldOf('body.agent')).toBe('runtime');
    expect(fieldOf('body.agent.model')).toBe('model');
    expect(fieldOf('body.verify.1')).toBe('verify');
    expect(fieldOf('body.constraints.timeoutSec')).toBeUndefined();
    expect(fieldOf('header.Idempotency-Key')).toBeUndefined();
  });
});
