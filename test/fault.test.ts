/**
 * Fault run, on SQLite and on PostgreSQL: `ship: merge` jobs whose agent APPENDS a per-job mark, several
 * factory processes killed with -9 (at random every 1-3 s, and by the target repository's hooks during
 * and right after the merge), and the coordinator itself (a real `conveyor serve`) killed with -9 and
 * started again on the same database and port. Each killed factory is replaced by a fresh one (a new
 * machine); the target is a remote (`file://`) repository, so work in progress survives the machine and
 * runs resume from checkpoints. Afterwards, from the event log and the target: every job ended in exactly
 * one terminal stage; every shipped job's mark is on the target exactly once (applied once, merged once);
 * no commit for a job that did not ship; attempts within the maximum; no accepted stale write; and the
 * factories that drained at the end left no worktree behind.
 *
 * On PostgreSQL it runs again with two coordinators (two `conveyor serve` on one database): factories
 * and the test's own calls spread over both, and each coordinator killed with -9 in turn while the
 * other serves. Every submission acknowledged by either is there at the end, and the checks above hold.
 *
 * `npm test` runs the short form; `npm run test:fault` (CONVEYOR_FAULT_LONG=1) the long one.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, freshDatabase } from './helpers/databases.js';
import { type FactoryProcess, spawnFactory } from './helpers/factory-process.js';
import { freePort } from './helpers/free-port.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';
import { callApi, type ServeProcess, startServe } from './helpers/serve-process.js';

const LONG = process.env.CONVEYOR_FAULT_LONG === '1';
const JOBS = LONG ? 100 : 8;
const FACTORIES = LONG ? 4 : 2;
const COORDINATOR_KILLS = LONG ? 2 : 1;
const TIMEOUT_MS = LONG ? 20 * 60_000 : 150_000;
const MAX_ATTEMPTS = 20;
const TERMINAL = ['shipped', 'failed', 'dead_letter', 'cancelled'];
const ADMIN = 'cvy_test_admin_secret_for_the_fault_run';
/** How far a job has come, for pacing the kills (a terminal stage counts 5). */
const PROGRESS: Readonly<Record<string, number>> = { assigned: 1, building: 2, review: 3, testing: 4 };

/**
 * A hook of the target that kills the factory pushing to `main` one time in `oneIn`: `pre-receive`
 * before the branch moves (a kill during the merge), `post-receive` after it (between merge and report).
 * The factory is the nearest ancestor running the conveyor binary; the kill is logged in `kills.log`.
 */
function killerHook(name: string, oneIn: number, log: string): string {
  return `#!/bin/sh
grep -q ' refs/heads/main$' || exit 0
[ $(( $(od -An -N2 -tu2 /dev/urandom) % ${String(oneIn)} )) -eq 0 ] || exit 0
p=$PPID
while [ "$p" -gt 1 ]; do
  if tr '\\0' ' ' < /proc/$p/cmdline | grep -q 'conveyor.js factory'; then
    echo ${name} >> ${log}
    kill -9 $p
    exit 0
  fi
  p=$(awk '{print $4}' /proc/$p/stat)
done
`;
}

interface EventRow {
  seq: number;
  epoch: number | null;
  type: string;
  actor: string;
  payload: { from?: string; to?: string; reconcile?: boolean };
}

const RUNS = [
  ...BACKENDS.map((backend) => ({ backend, coordinators: 1 })),
  { backend: 'postgres' as const, coordinators: 2 },
];

describe.each(RUNS)('fault run on $backend with $coordinators coordinator(s)', ({ backend, coordinators }) => {
  const factories = new Map<number, FactoryProcess>();
  const servers: ServeProcess[] = [];
  const killAll = (): void => {
    for (const f of factories.values()) if (f.child.exitCode === null) f.child.kill('SIGKILL');
    for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  };
  afterEach(killAll);
  afterAll(killAll);

  it(
    `${String(JOBS)} merge jobs, ${String(FACTORIES)} factories and the coordinator killed with -9: each job ends once, ships at most once, applied once`,
    async () => {
      const started = Date.now();
      const database = await freshDatabase(backend);
      const cwd = mkdtempSync(join(tmpdir(), 'conveyor-fault-'));
      // The target: a bare repository behind a file:// URL, with hooks that kill the pushing factory.
      const seed = makeRepo();
      const bare = join(cwd, 'target.git');
      gitIn(cwd, 'clone', '--quiet', '--bare', seed, bare);
      const killLog = join(cwd, 'kills.log');
      writeFileSync(killLog, '');
      for (const [hook, oneIn] of [
        ['pre-receive', 6],
        ['post-receive', 6],
      ] as const) {
        writeFileSync(join(bare, 'hooks', hook), killerHook(hook, oneIn, killLog));
        chmodSync(join(bare, 'hooks', hook), 0o755);
      }
      const repo = `file://${bare}`;
      const ports: number[] = [];
      for (let i = 0; i < coordinators; i += 1) ports.push(await freePort());
      const serve = async (index: number): Promise<ServeProcess> => {
        const server = await startServe({
          db: database.url,
          cwd,
          adminToken: ADMIN,
          port: ports[index] ?? 0,
          env: {
            CONVEYOR_LEASE_TTL_SEC: '4',
            CONVEYOR_HEARTBEAT_SEC: '1',
            CONVEYOR_RETRY_BASE_SEC: '0.05',
            CONVEYOR_RETRY_MAX_SEC: '0.5',
          },
        });
        servers.push(server);
        return server;
      };
      const running: ServeProcess[] = [];
      for (let i = 0; i < coordinators; i += 1) running.push(await serve(i));
      const urls = running.map((r) => r.url);
      // Round robin over the coordinators; one that does not answer (killed, restarting) passes to the
      // next, and when none does the client waits and tries again, as a client of a restarting one would.
      let turn = 0;
      const call = async (method: string, path: string, json?: unknown) => {
        turn += 1;
        const giveUp = Date.now() + 60_000;
        for (let tried = 0; ; tried += 1) {
          const url = urls[(turn + tried) % urls.length] ?? '';
          try {
            return await callApi(url, ADMIN, method, path, json);
          } catch (error) {
            if (Date.now() > giveUp) throw error;
            if ((tried + 1) % urls.length === 0) await new Promise((r) => setTimeout(r, 200));
          }
        }
      };

      // Job n's submission, under an idempotency key: one retried on another coordinator (the first
      // killed before it answered) is the same job, never a second one.
      const ids: string[] = [];
      const submit = async (n: number): Promise<void> => {
        const res = await call('POST', '/api/jobs', {
          idempotencyKey: `fault-${String(n)}`,
          title: `job ${String(n)}`,
          body: 'Append one mark.',
          repo,
          agent: {
            runtime: 'command',
            run: `sleep 0.3; mkdir -p out && echo ${String(n)} >> out/job-${String(n)}.txt`,
          },
          verify: [`sleep 0.3; test -f out/job-${String(n)}.txt`],
          ship: 'merge',
          maxAttempts: MAX_ATTEMPTS,
        });
        expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
        ids[n] = res.body.id as string;
      };
      // Half the jobs now, the rest one at a time while factories and coordinators are killed.
      let submitted = 0;
      while (submitted < JOBS / 2) await submit(submitted++);
      let generation = 0;
      const start = (slot: number): void => {
        generation += 1;
        factories.set(
          slot,
          spawnFactory({
            url: urls[slot % urls.length] ?? '',
            token: ADMIN,
            id: `fault-${String(slot)}-${String(generation)}`,
            args: ['--slots', '2', '--log-level', 'warn'],
          }),
        );
      };
      for (let slot = 0; slot < FACTORIES; slot += 1) start(slot);

      const stages = async (): Promise<string[]> => {
        const out: string[] = [];
        for (const id of ids) {
          const answer = await call('GET', `/api/jobs/${id}`).catch(() => undefined);
          out.push((answer?.body as { stage?: string } | undefined)?.stage ?? 'unknown');
        }
        return out;
      };
      // The chaos: every 1-3 s a random factory dies and a new machine takes its place (a factory the
      // target's hooks killed is replaced too); at set points the coordinator dies and comes back.
      let kills = 0;
      let scoreAtKill = -1;
      let killedAt = 0;
      let coordinatorKills = 0;
      const deadline = Date.now() + TIMEOUT_MS;
      for (;;) {
        const now = await stages();
        const done = now.filter((s) => TERMINAL.includes(s)).length;
        if (done === JOBS) break;
        const coordinatorKillsDue = COORDINATOR_KILLS * coordinators;
        // In flight while a coordinator may die below. The last job waits for the coordinators' kills:
        // on a quick machine the others could all end between two looks, and no coordinator would die.
        const submitting =
          submitted < JOBS - 1 || (submitted < JOBS && coordinatorKills >= coordinatorKillsDue)
            ? submit(submitted++)
            : undefined;
        const score = now.reduce((sum, stage) => sum + (TERMINAL.includes(stage) ? 5 : (PROGRESS[stage] ?? 0)), 0);
        expect(Date.now(), `the fault run did not finish in time: ${now.join(' ')}`).toBeLessThan(deadline);
        if (
          coordinatorKills < coordinatorKillsDue &&
          done >= (JOBS * (coordinatorKills + 1)) / (coordinatorKillsDue + 2)
        ) {
          // With several, each in turn: the others serve meanwhile.
          const index = coordinatorKills % coordinators;
          running[index]?.child.kill('SIGKILL');
          await running[index]?.exited;
          coordinatorKills += 1;
          running[index] = await serve(index);
        }
        await submitting;
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 2000));
        // Only a factory that has joined (a process takes seconds to start on a busy machine): killing
        // them as they start would leave the jobs waiting and test nothing.
        const joined = new Set(
          (((await call('GET', '/api/factories').catch(() => undefined))?.body ?? []) as { id: string }[]).map(
            (f) => f.id,
          ),
        );
        const live = [...factories.values()].filter(
          (f) => f.child.exitCode === null && f.child.signalCode === null && joined.has(f.id),
        );
        const victim = live[Math.floor(Math.random() * live.length)];
        // Paced by progress: a kill only once the jobs moved on since the last one (or after a while),
        // so on a machine where a step takes longer than the kill interval the jobs still finish.
        if (victim !== undefined && (score > scoreAtKill || Date.now() - killedAt > 20_000)) {
          victim.child.kill('SIGKILL');
          await victim.exited;
          kills += 1;
          scoreAtKill = score;
          killedAt = Date.now();
        }
        for (let s = 0; s < FACTORIES; s += 1) {
          const f = factories.get(s);
          if (f === undefined || f.child.exitCode !== null || f.child.signalCode !== null) start(s);
        }
      }
      // Every acknowledged submission is a job of its own.
      expect(new Set(ids).size).toBe(JOBS);
      expect(kills).toBeGreaterThan(0);
      expect(coordinatorKills).toBe(COORDINATOR_KILLS * coordinators);

      // The factories drain (SIGTERM): what is left in their workdirs after they exit.
      const last = [...factories.values()];
      for (const f of last) f.child.kill('SIGTERM');
      await Promise.all(last.map((f) => f.exited));
      const leftovers = last.flatMap((f) => {
        try {
          return readdirSync(join(f.workdir, 'worktrees'));
        } catch {
          return [];
        }
      });

      const trailers = gitIn(bare, 'log', 'main', '--format=%(trailers:key=Conveyor-Job,valueonly)')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '');
      // A result produced under a lease lost during the coordinator's outage is quarantined: kept, worktree and all.
      const quarantined = new Set<string>();
      let shippedJobs = 0;
      let deadLettered = 0;
      let reconciled = 0;
      const expiredIn = new Map<string, number>();
      for (const [n, id] of ids.entries()) {
        const job = (await call('GET', `/api/jobs/${id}`)).body as {
          stage: string;
          leaseEpoch: number;
          attempts: number;
          maxAttempts: number;
        };
        const events = (await call('GET', `/api/jobs/${id}/events`)).body as EventRow[];
        const runs = (await call('GET', `/api/jobs/${id}/runs`)).body as { epoch: number; outcome: string | null }[];
        const where = `job ${String(n)} (${id}) ${job.stage}: ${JSON.stringify(
          events.map((e) => [e.seq, e.type, e.epoch, e.actor, e.payload]),
        )}`;
        for (const e of events.filter((x) => x.type === 'lease.expired')) {
          const from = e.payload.from ?? '?';
          expiredIn.set(from, (expiredIn.get(from) ?? 0) + 1);
        }
        if (events.some((e) => e.type === 'ship.reconciled')) reconciled += 1;
        if (((await call('GET', `/api/jobs/${id}/quarantine`)).body as unknown[]).length > 0) quarantined.add(id);
        // Exactly one terminal stage, reached once.
        const terminal = events.filter((e) => e.payload.to !== undefined && TERMINAL.includes(e.payload.to));
        const final = terminal.filter((e) => e.payload.to !== 'failed' || job.stage === 'failed');
        expect(TERMINAL, where).toContain(job.stage);
        expect(
          final.filter((e) => e.payload.to === job.stage),
          where,
        ).toHaveLength(1);
        expect(terminal.filter((e) => e.payload.to === 'shipped').length, where).toBeLessThanOrEqual(1);
        expect(runs.filter((r) => r.outcome === 'shipped').length, where).toBeLessThanOrEqual(1);
        expect(job.attempts, where).toBeLessThanOrEqual(job.maxAttempts);
        // No stale write: every report a factory made was under the newest claim at that moment.
        let claimed = -1;
        for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
          if (e.type === 'job.claimed') claimed = e.epoch ?? -1;
          if (e.actor === 'factory' && (e.type === 'stage.changed' || e.type === 'checkpoint.saved'))
            expect(e.epoch, `${where}: ${e.type} #${String(e.seq)}`).toBe(claimed);
        }
        expect(new Set(runs.map((r) => r.epoch)).size, where).toBe(runs.length);
        const mine = trailers.filter((t) => t === id);
        if (job.stage === 'shipped') {
          shippedJobs += 1;
          expect(runs.find((r) => r.outcome === 'shipped')?.epoch, where).toBe(job.leaseEpoch);
          expect(mine, where).toHaveLength(1);
          // Appended by the agent: twice would mean the work was applied twice.
          expect(gitIn(bare, 'show', `main:out/job-${String(n)}.txt`), where).toBe(`${String(n)}\n`);
        } else {
          if (job.stage === 'dead_letter') deadLettered += 1;
          expect(mine, where).toHaveLength(0);
        }
      }
      expect(trailers).toHaveLength(shippedJobs);
      expect(
        leftovers.filter((jobId) => !quarantined.has(jobId)),
        'worktrees left by the factories that drained',
      ).toEqual([]);
      // The chaos must not stop work: most jobs ship.
      expect(shippedJobs).toBeGreaterThan(JOBS / 2);

      const hookKills = readFileSync(killLog, 'utf8').split('\n');
      const row = {
        backend,
        coordinators,
        jobs: JOBS,
        factoryKills: kills,
        hookKills: `${String(hookKills.filter((k) => k === 'pre-receive').length)} in merge, ${String(hookKills.filter((k) => k === 'post-receive').length)} after merge`,
        coordinatorKills,
        leasesExpiredIn: Object.fromEntries(expiredIn),
        shipped: shippedJobs,
        reconciled,
        quarantined: quarantined.size,
        deadLettered,
        durationS: Math.round((Date.now() - started) / 1000),
      };
      process.stderr.write(`fault run: ${JSON.stringify(row)}\n`);
      for (const r of running) r.child.kill('SIGKILL');
      await Promise.all(running.map((r) => r.exited));
      await database.drop();
    },
    TIMEOUT_MS + 120_000,
  );
});
