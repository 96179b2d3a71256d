/**
 * Kill -9 durability of the fleet's fenced writes on both backends: factory loops claim, upload events
 * and report stages against the real `conveyor serve` while it is SIGKILLed; after a restart on the
 * same database every write that was acknowledged is there (the run of each claim, the event of each
 * upload, the stage change of each report). On SQLite these writes share transactions and WAL flushes
 * (group commit), so this is also the check that none is answered before the flush that holds it.
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
    const loop = async (n: number): Promise<void> => {
      const factoryId = `durable-factory-${n.toString()}`;
      for (let i = 0; !stopped; i++) {
        const claim = await write('POST', '/api/fleet/claim', { factoryId, capabilities: [] });
        if (claim?.status !== 200) return;
        const jobId = claim.body.job.id as string;
        const epoch = claim.body.leaseEpoch as number;
        acked.push({ kind: 'claim', jobId, epoch, factoryId });
        const mark = `${factoryId}/${i.toString()}`;
        const events = { factoryId, leaseEpoch: epoch, events: [{ type: 'test.mark', payload: { mark } }] };
        if ((await write('POST', `/api/fleet/jobs/${jobId}/events`, events))?.status !== 200) return;
        acked.push({ kind: 'events', jobId, epoch, mark });
        for (const stage of STAGES) {
          const report = await write('PATCH', `/api/fleet/jobs/${jobId}`, { factoryId, stage, leaseEpoch: epoch });
          if (report?.status !== 200) return;
          acked.push({ kind: 'report', jobId, epoch, stage });
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
