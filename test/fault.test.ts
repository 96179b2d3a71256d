/**
 * Fault run: many jobs, several factory processes, 2 s leases, a factory killed with -9 at random
 * every few seconds and restarted (on a fresh workdir, like a replacement machine). Afterwards, from
 * the event log and the target repository: every job reached exactly one terminal stage, at most one
 * `shipped` per job, no write with a stale epoch was accepted, and every shipped change is in the target
 * branch exactly once. `npm test` runs the short form; `npm run test:fault` (CONVEYOR_FAULT_LONG=1) the
 * long one: 200 jobs, 4 factories.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { type FactoryProcess, spawnFactory } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';

const LONG = process.env.CONVEYOR_FAULT_LONG === '1';
const JOBS = LONG ? 200 : 20;
const FACTORIES = LONG ? 4 : 2;
const TIMEOUT_MS = LONG ? 15 * 60_000 : 120_000;
const TERMINAL = ['shipped', 'failed', 'dead_letter', 'cancelled'];

interface EventRow {
  seq: number;
  epoch: number | null;
  type: string;
  actor: string;
  payload: { from?: string; to?: string };
}

describe('fault run', () => {
  let tc: TestCoordinator;
  const running = new Map<number, FactoryProcess>();

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', {
      ...FAST_LEASES,
      retryMaxMs: 500,
    });
  });
  afterEach(() => {
    for (const f of running.values()) if (f.child.exitCode === null) f.child.kill('SIGKILL');
  });
  afterAll(async () => {
    await tc.close();
  });

  it(
    `${String(JOBS)} jobs, ${String(FACTORIES)} factories, one killed with -9 every few seconds: each job ends once, ships at most once`,
    async () => {
      const repo = makeRepo();
      const ids: string[] = [];
      for (let n = 0; n < JOBS; n += 1) {
        const res = await tc.call('POST', '/api/jobs', {
          token: tc.tokens.submit,
          json: {
            title: `job ${String(n)}`,
            body: 'Write one file.',
            repo,
            agent: {
              runtime: 'command',
              run: `sleep 0.3; mkdir -p out && echo ${String(n)} > out/job-${String(n)}.txt`,
            },
            verify: [`test -f out/job-${String(n)}.txt`],
            ship: 'merge',
            maxAttempts: 20,
          },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        ids.push(res.body.id as string);
      }
      let generation = 0;
      const start = (slot: number): void => {
        generation += 1;
        running.set(
          slot,
          spawnFactory({
            url: tc.url,
            token: tc.tokens.factory,
            id: `fault-${String(slot)}-${String(generation)}`,
            args: ['--slots', '2', '--log-level', 'warn'],
          }),
        );
      };
      for (let slot = 0; slot < FACTORIES; slot += 1) start(slot);

      const allTerminal = async (): Promise<boolean> => {
        for (const id of ids) {
          const job = (await tc.call('GET', `/api/jobs/${id}`)).body as { stage: string };
          if (!TERMINAL.includes(job.stage)) return false;
        }
        return true;
      };
      // The chaos: every 2-4 s a random factory dies with SIGKILL and a new one takes its place.
      let kills = 0;
      const deadline = Date.now() + TIMEOUT_MS;
      while (!(await allTerminal())) {
        expect(Date.now(), 'the fault run did not finish in time').toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 2000 + Math.random() * 2000));
        const slot = Math.floor(Math.random() * FACTORIES);
        const victim = running.get(slot);
        if (victim !== undefined) {
          victim.child.kill('SIGKILL');
          await victim.exited;
          kills += 1;
        }
        start(slot);
      }
      expect(kills).toBeGreaterThan(0);

      const trailers = gitIn(repo, 'log', 'main', '--format=%(trailers:key=Conveyor-Job,valueonly)')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '');
      let shippedJobs = 0;
      for (const [n, id] of ids.entries()) {
        const job = (await tc.call('GET', `/api/jobs/${id}`)).body as { stage: string; leaseEpoch: number };
        const events = (await tc.call('GET', `/api/jobs/${id}/events`)).body as EventRow[];
        const runs = (await tc.call('GET', `/api/jobs/${id}/runs`)).body as { epoch: number; outcome: string | null }[];
        const where = `job ${String(n)} (${id}) ${job.stage}: ${JSON.stringify(
          events.map((e) => [e.seq, e.type, e.epoch, e.actor, e.payload]),
        )}`;
        // Exactly one terminal stage, reached once.
        // Any event that moved the job into a terminal stage (a factory's report, the coordinator's dead letter).
        const terminal = events.filter((e) => e.payload.to !== undefined && TERMINAL.includes(e.payload.to));
        const final = terminal.filter((e) => e.payload.to !== 'failed' || job.stage === 'failed');
        expect(TERMINAL, where).toContain(job.stage);
        expect(
          final.filter((e) => e.payload.to === job.stage),
          where,
        ).toHaveLength(1);
        expect(terminal.filter((e) => e.payload.to === 'shipped').length, where).toBeLessThanOrEqual(1);
        expect(runs.filter((r) => r.outcome === 'shipped').length, where).toBeLessThanOrEqual(1);
        // No stale write: every report a factory made was under the newest claim at that moment.
        let claimed = -1;
        for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
          if (e.type === 'job.claimed') claimed = e.epoch ?? -1;
          if (e.actor === 'factory' && (e.type === 'stage.changed' || e.type === 'checkpoint.saved'))
            expect(e.epoch, `${where}: ${e.type} #${String(e.seq)}`).toBe(claimed);
        }
        // Every run's epoch is distinct and the shipping run holds the job's current epoch.
        expect(new Set(runs.map((r) => r.epoch)).size, where).toBe(runs.length);
        const shippedRun = runs.find((r) => r.outcome === 'shipped');
        if (job.stage === 'shipped') {
          shippedJobs += 1;
          expect(shippedRun?.epoch, where).toBe(job.leaseEpoch);
          expect(
            trailers.filter((t) => t === id),
            where,
          ).toHaveLength(1);
          expect(readFileSync(join(repo, 'out', `job-${String(n)}.txt`), 'utf8'), where).toBe(`${String(n)}\n`);
        } else {
          expect(
            trailers.filter((t) => t === id),
            where,
          ).toHaveLength(0);
        }
      }
      // The chaos must not stop work: most jobs ship.
      expect(shippedJobs).toBeGreaterThan(JOBS / 2);
      expect(gitIn(repo, 'status', '--porcelain')).toBe('');
    },
    TIMEOUT_MS + 60_000,
  );
});
