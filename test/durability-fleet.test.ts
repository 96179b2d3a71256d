/**
 * Kill -9 durability of the fleet's fenced writes on both backends: factory loops claim, upload events
 * (half of them with the batched calls) and report stages against the real `conveyor serve` while it
 * is SIGKILLed; after a restart on the same database every write that was acknowledged is there (the
 * run of each claim, the event of each upload, the stage change of each report). On SQLite these writes
 * share transactions (group commit), so this checks that none is answered before its group's COMMIT.
 * The WAL flush after it only matters on a power loss, which a kill cannot show: `wal-sync.test.ts`
 * checks that an answer waits for a flush begun after its commit.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, freshDatabase, type TestDatabase } from './helpers/databases.js';
import { type Answer, callApi, type ServeProcess, startServe } from './helpers/serve-process.js';

const ADMIN = 'cvy_test_admin_secret_for_fleet_durability';
const JOBS = 600;
const LOOPS = 16;
const STAGES = ['building', 'review', 'testing', 'shipped'] as const;

/** A write the coordinator acknowledged (2xx), to look for after the restart. */
type Acked =
  | { kind: 'claim'; jobId: string; epoch: number; factoryId: string }
  | { kind: 'events'; jobId: string; epoch: number; mark: string }
  | { kind: 'report'; jobId: string; epoch: number; stage: string };

describe.each(BACKENDS)('kill -9 durability of fleet writes on %s', (backend) => {
  let database: TestDatabase;
  const cwd = mkdtempSync(join(tmpdir(), 'conveyor-durability-fleet-'));
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    database = await freshDatabase(backend);
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
    await database.drop();
  });

  async function startServer(): Promise<ServeProcess> {
    const server = await startServe({ db: database.url, cwd, adminToken: ADMIN });
    children.add(server.child);
    return server;
  }

  it('keeps every acknowledged claim, event upload and report after SIGKILL', async () => {
    const first = await startServer();
    const call = (method: string, path: string, json?: unknown): Promise<Answer> =>
      callApi(first.url, ADMIN, method, path, json);
    for (let i = 0; i < JOBS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, JOBS - i) }, async (_, k) => {
          const answer = await call('POST', '/api/jobs', {
            title: `Job ${(i + k).toString()}`,
            body: 'Fleet.',
            repo: 'https://git.example/app.git',
          });
          expect(answer.status).toBe(201);
        }),
      );
    }

    const acked: Acked[] = [];
    const unexpected: string[] = [];
    let inFlight = 0;
    let stopped = false;
    /** Sends one write; undefined when the kill cut the answer off. */
    const write = async (method: string, path: string, json: unknown): Promise<Answer | undefined> => {
      inFlight++;
      try {
        const answer = await call(method, path, json);
        if (answer.status >= 300) unexpected.push(`${method} ${path}: ${answer.status.toString()}`);
        return answer;
      } catch {
        return undefined;
      } finally {
        inFlight--;
      }
    };
    /** Claims one job, or (`batched`) up to two with `POST /api/fleet/claims`; none when the kill cut it off. */
    const claimJobs = async (factoryId: string, batched: boolean): Promise<{ jobId: string; epoch: number }[]> => {
      const answer = batched
        ? await write('POST', '/api/fleet/claims', { factoryId, capabilities: [], maxJobs: 2 })
        : await write('POST', '/api/fleet/claim', { factoryId, capabilities: [] });
      if (answer?.status !== 200) return [];
      const claimed = (batched ? answer.body.claims : [answer.body]) as { job: { id: string }; leaseEpoch: number }[];
      return claimed.map((c) => ({ jobId: c.job.id, epoch: c.leaseEpoch }));
    };
    /** Uploads one mark per job, one call per job or (`batched`) one `POST /api/fleet/events` for all. */
    const uploadMarks = async (
      factoryId: string,
      held: { jobId: string; epoch: number; mark: string }[],
      batched: boolean,
    ) => {
      const events = (mark: string) => [{ type: 'test.mark', payload: { mark } }];
      if (batched) {
        const uploads = held.map((h) => ({ jobId: h.jobId, leaseEpoch: h.epoch, events: events(h.mark) }));
        const answer = await write('POST', '/api/fleet/events', { factoryId, uploads });
        if (answer?.status !== 200) return false;
        const outcomes = answer.body.outcomes as { recorded?: number }[];
        held.forEach((h, i) => {
          if (outcomes[i]?.recorded === 1) acked.push({ kind: 'events', jobId: h.jobId, epoch: h.epoch, mark: h.mark });
          else unexpected.push(`upload for ${h.jobId}: ${JSON.stringify(outcomes[i])}`);
        });
        return true;
      }
      for (const h of held) {
        const body = { factoryId, leaseEpoch: h.epoch, events: events(h.mark) };
        if ((await write('POST', `/api/fleet/jobs/${h.jobId}/events`, body))?.status !== 200) return false;
        acked.push({ kind: 'events', jobId: h.jobId, epoch: h.epoch, mark: h.mark });
      }
      return true;
    };
    // Half the loops use the batched calls (batch claim, batched upload), half the single ones.
    const loop = async (n: number): Promise<void> => {
      const factoryId = `durable-factory-${n.toString()}`;
      const batched = n % 2 === 0;
      for (let i = 0; !stopped; i++) {
        const claimed = await claimJobs(factoryId, batched);
        if (claimed.length === 0) return;
        for (const c of claimed) acked.push({ kind: 'claim', ...c, factoryId });
        const held = claimed.map((c, k) => ({ ...c, mark: `${factoryId}/${i.toString()}/${k.toString()}` }));
        if (!(await uploadMarks(factoryId, held, batched))) return;
        for (const { jobId, epoch } of held) {
          for (const stage of STAGES) {
            const report = await write('PATCH', `/api/fleet/jobs/${jobId}`, { factoryId, stage, leaseEpoch: epoch });
            if (report?.status !== 200) return;
            acked.push({ kind: 'report', jobId, epoch, stage });
          }
        }
      }
    };
    const loops = Array.from({ length: LOOPS }, (_, n) => loop(n));

    const warmDeadline = Date.now() + 15_000;
    while (acked.length < 100 && unexpected.length === 0 && Date.now() < warmDeadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(acked.length, 'writes acknowledged before the kill').toBeGreaterThanOrEqual(100);
    await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 200)));
    const inFlightAtKill = inFlight;
    stopped = true;
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await Promise.all(loops);
    expect(unexpected).toEqual([]);
    expect(inFlightAtKill, 'writes in flight at the kill').toBeGreaterThan(0);

    const second = await startServer();
    const read = async (path: string): Promise<any[]> => {
      const answer = await callApi(second.url, ADMIN, 'GET', path);
      expect(answer.status, path).toBe(200);
      return answer.body as any[];
    };
    const byJob = new Map<string, Acked[]>();
    for (const w of acked) byJob.set(w.jobId, [...(byJob.get(w.jobId) ?? []), w]);
    for (const [jobId, writes] of byJob) {
      const [runs, events] = await Promise.all([
        read(`/api/fleet/jobs/${jobId}/runs`),
        read(`/api/fleet/jobs/${jobId}/events`),
      ]);
      for (const w of writes) {
        if (w.kind === 'claim') {
          expect(runs, `run of ${JSON.stringify(w)}`).toContainEqual(
            expect.objectContaining({ epoch: w.epoch, factoryId: w.factoryId }),
          );
        } else if (w.kind === 'events') {
          expect(events, `upload ${JSON.stringify(w)}`).toContainEqual(
            expect.objectContaining({ type: 'test.mark', epoch: w.epoch, payload: { mark: w.mark } }),
          );
        } else {
          expect(events, `report ${JSON.stringify(w)}`).toContainEqual(
            expect.objectContaining({
              type: 'stage.changed',
              epoch: w.epoch,
              payload: expect.objectContaining({ to: w.stage }),
            }),
          );
        }
      }
    }
    second.child.kill('SIGKILL');
    await second.exited;
  });
});
