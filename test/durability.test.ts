/**
 * Kill -9 durability on both backends: the real `conveyor serve` is SIGKILLed while submissions are in
 * flight; after a restart on the same database every acknowledged (201) job and its `job.created` event
 * are there, and retrying the submissions whose answer was lost never creates a duplicate.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, freshDatabase, type TestDatabase } from './helpers/databases.js';
import { type Answer, callApi, type ServeProcess, startServe } from './helpers/serve-process.js';

const ADMIN = 'cvy_test_admin_secret_for_durability';
const LOOPS = 32;

const request = (url: string, method: string, path: string, json?: unknown): Promise<Answer> =>
  callApi(url, ADMIN, method, path, json);

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work));
}

describe.each(BACKENDS)('kill -9 durability on %s', (backend) => {
  let database: TestDatabase;
  let cwd: string;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    database = await freshDatabase(backend);
    // An empty working directory, so no conveyor config file of the repo is picked up.
    cwd = mkdtempSync(join(tmpdir(), 'conveyor-durability-'));
  });
  afterEach(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(
      [...children].map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) done();
            else
              child.once('exit', () => {
                done();
              });
          }),
      ),
    );
    rmSync(cwd, { recursive: true, force: true });
    await database.drop();
  });

  async function startServer(): Promise<ServeProcess> {
    const server = await startServe({ db: database.url, cwd, adminToken: ADMIN });
    children.add(server.child);
    return server;
  }

  it('keeps every acknowledged job after SIGKILL, and a retried submission never duplicates', async () => {
    // Keys and titles: `acked` got 201 with a body; `unanswered` were sent but their answer was lost
    // (connection reset by the kill), so their outcome is unknown; `ackedNoBody` got a 201 status line
    // but the body was cut off.
    const acked = new Map<string, { id: string; title: string }>();
    const unanswered = new Map<string, string>();
    const ackedNoBody = new Map<string, string>();
    const unexpected: string[] = [];

    /** Serves, submits from LOOPS loops, and kills the server a random few hundred ms after 20 acks. */
    const killRound = async (round: number): Promise<void> => {
      const first = await startServer();
      const inFlight = new Set<string>();
      let stopped = false;
      const loop = async (n: number): Promise<void> => {
        for (let i = 0; !stopped; i++) {
          const key = `durable-${round}-${n}-${i}`;
          const title = `Durable job ${round}/${n}/${i}`;
          inFlight.add(key);
          let status: number | undefined;
          try {
            const res = await fetch(`${first.url}/api/jobs`, {
              method: 'POST',
              headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
              body: JSON.stringify({
                title,
                body: `Submission ${key}.`,
                repo: 'https://git.example/app.git',
                idempotencyKey: key,
              }),
            });
            status = res.status;
            const body = (await res.json()) as { id: string };
            if (status === 201) acked.set(key, { id: body.id, title });
            else unexpected.push(`${key}: HTTP ${status} ${JSON.stringify(body)}`);
          } catch {
            if (status === 201) ackedNoBody.set(key, title);
            else if (status === undefined) unanswered.set(key, title);
            else unexpected.push(`${key}: HTTP ${status} with an unreadable body`);
          } finally {
            inFlight.delete(key);
          }
        }
      };
      const ackedBefore = acked.size;
      const loops = Array.from({ length: LOOPS }, (_, n) => loop(n));

      // Let the server warm up and acknowledge some jobs, then kill it a random few hundred ms later.
      const warmDeadline = Date.now() + 15_000;
      while (acked.size - ackedBefore < 20 && unexpected.length === 0 && Date.now() < warmDeadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(unexpected).toEqual([]);
      expect(acked.size - ackedBefore, 'submissions acknowledged before the kill').toBeGreaterThanOrEqual(20);
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 350)));
      const inFlightAtKill = inFlight.size;
      stopped = true;
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      await Promise.all(loops);
      expect(unexpected).toEqual([]);
      expect(inFlightAtKill, 'submissions in flight at the kill').toBeGreaterThan(0);
    };

    // The server can answer everything in flight between its last read and the kill; the scenario needs a
    // kill that cut answers off, so a round that cut none is followed by another on the same database.
    for (let round = 0; round < 5 && unanswered.size + ackedNoBody.size === 0; round++) await killRound(round);
    expect(unanswered.size + ackedNoBody.size, 'submissions whose answer the kill cut off').toBeGreaterThan(0);

    const second = await startServer();

    // Every 201 survived, with its creation event.
    await inBatches([...acked], 16, async ([key, { id, title }]) => {
      const job = await request(second.url, 'GET', `/api/jobs/${id}`);
      expect(job.status, `job ${id} (${key})`).toBe(200);
      expect(job.body).toMatchObject({ id, title, idempotencyKey: key });
      const events = await request(second.url, 'GET', `/api/jobs/${id}/events`);
      expect(events.status).toBe(200);
      expect((events.body as { type: string; jobId: string }[]).filter((e) => e.type === 'job.created')).toEqual([
        expect.objectContaining({ type: 'job.created', jobId: id }),
      ]);
    });

    // Retrying a submission whose answer was lost (the same submission): created now (201) or found (200), never both.
    const retry = (key: string, title: string): Promise<Answer> =>
      request(second.url, 'POST', '/api/jobs', {
        title,
        body: `Submission ${key}.`,
        repo: 'https://git.example/app.git',
        idempotencyKey: key,
      });
    const retried = new Map<string, string>();
    await inBatches([...unanswered, ...ackedNoBody], 16, async ([key, title]) => {
      const answer = await retry(key, title);
      expect([200, 201], `retry of ${key}`).toContain(answer.status);
      // A 201 status line means the first attempt committed: the retry must find it.
      if (ackedNoBody.has(key)) expect(answer.status, `retry of ${key}`).toBe(200);
      expect(answer.body).toMatchObject({ title, idempotencyKey: key });
      retried.set(key, answer.body.id as string);
    });
    // A second retry, and a retry of some acknowledged ones, find the same job.
    await inBatches([...retried], 16, async ([key, id]) => {
      const again = await retry(key, unanswered.get(key) ?? ackedNoBody.get(key) ?? '');
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(id);
    });
    for (const [key, { id, title }] of [...acked].slice(0, 5)) {
      const again = await retry(key, title);
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(id);
    }

    // The whole list: one job per key, and exactly the keys that were acknowledged or retried.
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await request(
        second.url,
        'GET',
        `/api/jobs?limit=200${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      expect(page.status).toBe(200);
      for (const job of page.body.jobs as { idempotencyKey: string | null }[]) keys.push(job.idempotencyKey ?? '');
      cursor = page.body.nextCursor as string | null;
    } while (cursor !== null);
    const duplicates = keys.filter((key, i) => keys.indexOf(key) !== i);
    expect(duplicates).toEqual([]);
    expect(new Set(keys)).toEqual(new Set([...acked.keys(), ...retried.keys()]));

    second.child.kill('SIGKILL');
    await second.exited;
  });
});
