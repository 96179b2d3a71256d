/**
 * `conveyor gc` with the real binary on both backends, while a real `conveyor serve` serves the same
 * database: a dry run counts, a run removes old finished jobs in batches and leaves the unfinished one,
 * the sizes are printed, and bad input is refused naming the flag and the fix.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { ManualClock } from './helpers/clock.js';
import { BACKENDS, freshDatabase, type TestDatabase } from './helpers/databases.js';
import { BIN } from './helpers/factory-process.js';
import { newJob } from './helpers/jobs.js';
import { type ServeProcess, startServe } from './helpers/serve-process.js';

const DAY = 86_400_000;
const ADMIN = 'cvy_gc_cli_admin_token_0123456789abcdef';
const OLD_FINISHED = 40;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CONVEYOR_')) env[key] = value;
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (status) => {
      resolve({ status, stdout, stderr });
    });
  });
}

describe.each(BACKENDS)('conveyor gc on %s', (backend) => {
  let database: TestDatabase;
  let cwd: string;
  let server: ServeProcess;
  const ids: { old: string[]; queued: string; recent: string } = { old: [], queued: '', recent: '' };

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'conveyor-gc-'));
    database = await freshDatabase(backend);
    // Jobs made 100 days ago (finished, and one still queued), and one finished today.
    const clock = new ManualClock(Date.now() - 100 * DAY);
    const store = await openStore(database.url, { clock });
    for (let i = 0; i < OLD_FINISHED; i++) {
      const { job } = await store.submit(newJob({ title: `old ${String(i)}` }));
      await store.cancel('default', job.id, 'done with');
      ids.old.push(job.id);
    }
    ids.queued = (await store.submit(newJob({ title: 'still queued' }))).job.id;
    clock.advance(100 * DAY);
    ids.recent = (await store.submit(newJob({ title: 'recent' }))).job.id;
    await store.cancel('default', ids.recent, undefined);
    await store.close();
    server = await startServe({ db: database.url, cwd, adminToken: ADMIN });
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await database.drop();
    rmSync(cwd, { recursive: true, force: true });
  });

  const jobIds = async (): Promise<string[]> => {
    const res = await fetch(`${server.url}/api/jobs?limit=200`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { jobs: { id: string }[] }).jobs.map((job) => job.id).sort();
  };

  it('counts in a dry run and removes nothing', async () => {
    const run = await cli(['gc', '--db', database.url, '--jobs', '90d', '--events', '30d', '--dry-run', '--json'], cwd);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as {
      dryRun: boolean;
      removed: Record<string, number>;
      sizeBefore: { bytes: number };
    };
    expect(report.dryRun).toBe(true);
    expect(report.removed).toMatchObject({ jobs: OLD_FINISHED, events: OLD_FINISHED * 2 });
    expect(report.sizeBefore.bytes).toBeGreaterThan(0);
    expect(await jobIds()).toHaveLength(OLD_FINISHED + 2);
  });

  it('removes old finished jobs in batches while the coordinator serves, and leaves the rest', async () => {
    const healthy: number[] = [];
    const running = { now: true };
    const probe = (async () => {
      while (running.now) {
        const res = await fetch(`${server.url}/healthz`);
        healthy.push(res.status);
        await res.body?.cancel();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const run = await cli(['gc', '--db', database.url, '--jobs', '90d', '--events', '30d', '--batch', '20'], cwd);
    running.now = false;
    await probe;
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(`removed: ${String(OLD_FINISHED)} jobs, ${String(OLD_FINISHED * 2)} events`);
    expect(run.stderr).toMatch(/size: [\d.]+ MiB before, [\d.]+ MiB after/);
    // 40 jobs at 4 per batch of 20 rows: at least 10 job batches, each with its events batch.
    expect(Number(/\((\d+) batches\)/.exec(run.stderr)?.[1])).toBeGreaterThanOrEqual(20);
    expect(healthy.length).toBeGreaterThan(0);
    expect(healthy.every((status) => status === 200)).toBe(true);
    expect(await jobIds()).toEqual([ids.queued, ids.recent].sort());

    const again = await cli(['gc', '--db', database.url, '--jobs', '90d', '--json'], cwd);
    expect((JSON.parse(again.stdout) as { removed: { jobs: number } }).removed.jobs).toBe(0);
  });

  it('refuses to run without an age, with a bad age, or on a database that does not exist', async () => {
    const none = await cli(['gc', '--db', database.url], cwd);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('nothing to remove: pass --events AGE and/or --jobs AGE');
    const bad = await cli(['gc', '--db', database.url, '--events', '30 days'], cwd);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--events: "30 days" is not a duration; use a number and a unit');
    const missing = await cli(['gc', '--db', join(cwd, 'nowhere.db'), '--jobs', '1d'], cwd);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`no database at --db ${join(cwd, 'nowhere.db')}`);
    writeFileSync(join(cwd, 'conveyor.toml'), '[retention]\nevents = "a month"\n');
    const config = await cli(['gc', '--db', database.url], cwd);
    expect(config.status).not.toBe(0);
    expect(config.stderr).toContain('retention.events: must be a duration; use a number and a unit');
    rmSync(join(cwd, 'conveyor.toml'));
  });
});
