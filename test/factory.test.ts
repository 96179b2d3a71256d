/** Factories as real processes against a real coordinator, on real git repositories. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN, type FactoryProcess, spawnFactory } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';

describe('factory', () => {
  let tc: TestCoordinator;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', FAST_LEASES);
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    await tc.close();
  });

  function startFactory(args: string[], id: string, env: Record<string, string> = {}): FactoryProcess {
    const factory = spawnFactory({ url: tc.url, token: tc.tokens.factory, id, args, env });
    children.push(factory.child);
    return factory;
  }

  async function submit(json: Record<string, unknown>): Promise<string> {
    const res = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      json: { body: 'Do the task.', ...json },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }

  async function job(id: string): Promise<any> {
    return (await tc.call('GET', `/api/jobs/${id}`)).body;
  }

  async function waitFor(id: string, stages: string[], timeoutMs = 20_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await job(id);
      if (stages.includes(current.stage)) return current;
      if (Date.now() > deadline) throw new Error(`job ${id} is ${String(current.stage)}, not ${stages.join('/')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('runs a job from submit to merge: the change lands exactly once, verify output is recorded, the worktree is gone', async () => {
    const repo = makeRepo();
    const id = await submit({
      title: 'Add notes',
      repo,
      base: 'main',
      agent: { runtime: 'command', run: 'echo "hello from $CONVEYOR_JOB_ID" >> notes.txt' },
      verify: ['grep -c hello notes.txt'],
      ship: 'merge',
    });
    const factory = startFactory(['--once'], 'merge-1');
    expect(await factory.exited, factory.log()).toBe(0);
    const shipped = await job(id);
    expect(shipped.stage).toBe('shipped');
    expect(shipped.result.verify).toEqual([
      expect.objectContaining({ command: 'grep -c hello notes.txt', exitCode: 0, outputTail: '1\n' }),
    ]);
    expect(shipped.result.ship).toMatchObject({ policy: 'merge', alreadyShipped: false });
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe(`hello from ${id}\n`);
    const trailers = gitIn(repo, 'log', 'main', '--format=%(trailers:key=Conveyor-Job,valueonly)')
      .trim()
      .split('\n')
      .filter((l) => l !== '');
    expect(trailers.filter((t) => t === id).length).toBeGreaterThanOrEqual(1);
    expect(gitIn(repo, 'status', '--porcelain')).toBe('');
    expect(readdirSync(join(factory.workdir, 'worktrees'))).toEqual([]);
    expect(shipped.result.agent).toEqual({ runtime: 'command' });
    expect(shipped.result.diff).toMatchObject({ files: ['notes.txt'], truncated: false });
    expect(shipped.result.diff.patch).toContain(`+++ b/notes.txt\n@@ -0,0 +1 @@\n+hello from ${id}\n`);
    const events = (await tc.call('GET', `/api/jobs/${id}/events`)).body as {
      type: string;
      actor: string;
      payload: { to?: string; command?: string; exitCode?: number };
    }[];
    expect(events.filter((e) => e.type === 'stage.changed').map((e) => e.payload.to)).toEqual([
      'building',
      'review',
      'testing',
      'shipped',
    ]);
    expect(events.some((e) => e.type === 'checkpoint.saved')).toBe(true);
    // A happy path records no rejection: nothing renews the lease once the shipped report ended it.
    expect(events.filter((e) => e.type === 'fence.rejected')).toEqual([]);
    expect(factory.log()).not.toContain('met a fence');
    // The verify result is a factory event, recorded before the stage it led to.
    const verify = events.findIndex((e) => e.type === 'verify.result');
    expect(events[verify]).toMatchObject({
      actor: 'factory',
      payload: { command: 'grep -c hello notes.txt', exitCode: 0 },
    });
    expect(verify).toBeLessThan(events.findIndex((e) => e.payload.to === 'shipped'));
  });

  it('runs one --once pass per --schedule tick, never two at once, and stops on SIGTERM', async () => {
    const factory = startFactory(['--schedule', '* * * * * *'], 'schedule-1');
    const repo = makeRepo();
    const id = await submit({
      repo,
      // Longer than a tick: the ticks that come meanwhile must not start a second pass.
      agent: { runtime: 'command', run: 'sleep 2.5; echo scheduled >> notes.txt' },
      ship: 'merge',
    });
    // A tick every second: the job ships within a few of them (timing itself is the benchmark's job).
    await waitFor(id, ['shipped'], 30_000);
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe('scheduled\n');
    expect(factory.log()).toMatch(/schedule tick skipped: the previous pass is still running/);
    const runs = (await tc.call('GET', `/api/jobs/${id}/runs`)).body as { factoryId: string }[];
    expect(runs.map((r) => r.factoryId)).toEqual(['schedule-1']);
    factory.child.kill('SIGTERM');
    expect(await factory.exited, factory.log()).toBe(0);
    expect(factory.log()).toMatch(/schedule stopped/);
  });

  it('refuses a --schedule that is not a cron pattern', async () => {
    const factory = startFactory(['--schedule', 'every now and then'], 'schedule-bad');
    expect(await factory.exited).toBe(2);
    expect(factory.log()).toMatch(/--schedule "every now and then"/);
  });

  it('fails a run that writes outside its scope, naming the rule and the file', async () => {
    const repo = makeRepo();
    const id = await submit({
      repo,
      agent: { runtime: 'command', run: 'mkdir -p src && echo x > src/ok.ts && echo y > secrets.txt' },
      scope: { write: ['src/**'] },
      ship: 'merge',
    });
    const factory = startFactory(['--once'], 'scope-1');
    expect(await factory.exited).toBe(1);
    const failed = await job(id);
    expect(failed.stage).toBe('failed');
    expect(failed.error.message).toMatch(/scope\.write: .*secrets\.txt/);
    expect(existsSync(join(repo, 'secrets.txt'))).toBe(false);
  });

  it('refuses a denied command before it runs', async () => {
    const repo = makeRepo();
    const id = await submit({
      repo,
      agent: { runtime: 'command', run: 'touch ran.txt && git push --force' },
      constraints: { deny: ['git push --force'] },
    });
    const factory = startFactory(['--once'], 'deny-1');
    expect(await factory.exited).toBe(1);
    const failed = await job(id);
    expect(failed.stage).toBe('failed');
    expect(failed.error.message).toBe(
      'deny: command "touch ran.txt && git push --force" matches denied pattern "git push --force"',
    );
  });

  it('fails a run whose verify fails, and the retry happens on the next claim', async () => {
    const repo = makeRepo();
    const id = await submit({
      repo,
      agent: { runtime: 'command', run: 'echo attempt >> attempts.txt' },
      verify: ['test "$(wc -l < attempts.txt)" -ge 5'],
      maxAttempts: 2,
    });
    const first = startFactory(['--once'], 'verify-1');
    expect(await first.exited).toBe(1);
    const requeued = await job(id);
    expect(requeued).toMatchObject({ stage: 'queued', attempts: 1 });
    expect(requeued.error.message).toMatch(/^verify: `test .*` exited with 1/);
    await new Promise((r) => setTimeout(r, 300));
    const second = startFactory(['--once'], 'verify-2');
    expect(await second.exited).toBe(1);
    expect(await job(id)).toMatchObject({ stage: 'dead_letter', attempts: 2 });
  });

  it('survives a factory killed with -9 mid-job: another one takes the job with a higher epoch and ships it once', async () => {
    const repo = makeRepo();
    const id = await submit({
      repo,
      // Factory A is started with SLOW=1 so it is still in its agent step when it is killed.
      agent: { runtime: 'command', run: 'if [ "$SLOW" = 1 ]; then sleep 30; fi; echo done >> result.txt' },
      ship: 'merge',
    });
    const a = startFactory([], 'crash-a', { SLOW: '1' });
    const running = await waitFor(id, ['building']);
    expect(running.lease.factoryId).toBe('crash-a');
    a.child.kill('SIGKILL');
    const requeued = await waitFor(id, ['queued'], 10_000);
    expect(requeued.leaseEpoch).toBeGreaterThan(running.leaseEpoch);
    const b = startFactory(['--once'], 'crash-b');
    expect(await b.exited, b.log()).toBe(0);
    const shipped = await job(id);
    expect(shipped.stage).toBe('shipped');
    expect(shipped.leaseEpoch).toBeGreaterThan(running.leaseEpoch);
    const runs = (await tc.call('GET', `/api/jobs/${id}/runs`)).body as {
      epoch: number;
      factoryId: string;
      outcome: string;
    }[];
    expect(runs.map((r) => [r.factoryId, r.outcome])).toEqual([
      ['crash-a', 'expired'],
      ['crash-b', 'shipped'],
    ]);
    expect(readFileSync(join(repo, 'result.txt'), 'utf8')).toBe('done\n');
  });

  it('fences a zombie: a factory stopped past its lease gets 409 when it wakes, aborts and ships nothing', async () => {
    const repo = makeRepo();
    const id = await submit({
      repo,
      agent: {
        runtime: 'command',
        run: 'if [ "$SLOW" = 1 ]; then sleep 4; echo zombie >> result.txt; else echo healthy >> result.txt; fi',
      },
      ship: 'merge',
    });
    const a = startFactory([], 'zombie-a', { SLOW: '1' });
    const running = await waitFor(id, ['building']);
    a.child.kill('SIGSTOP');
    await waitFor(id, ['queued'], 10_000);
    const b = startFactory(['--once'], 'zombie-b');
    expect(await b.exited, b.log()).toBe(0);
    a.child.kill('SIGCONT');
    // A wakes up: its next write is refused, it aborts and never ships its change.
    const deadline = Date.now() + 15_000;
    while (!/fenced abort/.test(a.log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(a.log()).toMatch(/fenced abort/);
    const events = (await tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string; epoch: number }[];
    expect(events.some((e) => e.type === 'fence.rejected' && e.epoch === running.leaseEpoch)).toBe(true);
    expect(readFileSync(join(repo, 'result.txt'), 'utf8')).toBe('healthy\n');
    expect((await job(id)).stage).toBe('shipped');
  });
});

describe('factory through a coordinator outage', () => {
  const ADMIN = 'cvy_outage_test_admin_token';
  const children: ChildProcess[] = [];
  let dir: string;
  let port: number;
  let server: ChildProcess | undefined;
  const base = (): string => `http://127.0.0.1:${String(port)}`;

  async function startServer(leaseTtlSec: number): Promise<void> {
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '--port', String(port), '--db', join(dir, 'c.db'), '--log-level', 'warn'],
      {
        env: {
          ...process.env,
          CONVEYOR_ADMIN_TOKEN: ADMIN,
          CONVEYOR_LEASE_TTL_SEC: String(leaseTtlSec),
          CONVEYOR_HEARTBEAT_SEC: '0.5',
          CONVEYOR_RETRY_BASE_SEC: '0.05',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.push(child);
    server = child;
    await new Promise<void>((ready, reject) => {
      let err = '';
      const timer = setTimeout(() => {
        reject(new Error(`serve did not start: ${err}`));
      }, 20_000);
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          ready();
        }
      });
    });
  }

  async function api(method: string, path: string, json?: unknown): Promise<any> {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    return res.json();
  }

  async function waitStage(id: string, stages: string[], timeoutMs = 20_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await api('GET', `/api/jobs/${id}`);
      if (stages.includes(job.stage)) return job;
      if (Date.now() > deadline) throw new Error(`job is ${String(job.stage)}, not ${stages.join('/')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function factory(id: string, args: string[], env: Record<string, string> = {}): FactoryProcess {
    const f = spawnFactory({ url: base(), token: ADMIN, id, args, env });
    children.push(f.child);
    return f;
  }

  beforeAll(async () => {
    const { freePort } = await import('./helpers/free-port.js');
    port = await freePort();
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('keeps working while the coordinator is down and replays its reports when it is back', async () => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-outage-'));
    await startServer(30);
    const repo = makeRepo();
    const { id } = await api('POST', '/api/jobs', {
      body: 'Write a file slowly.',
      repo,
      agent: { runtime: 'command', run: 'sleep 3; echo survived >> out.txt' },
      ship: 'merge',
    });
    const a = factory('outage-a', []);
    await waitStage(id, ['building']);
    server?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 4000));
    await startServer(30);
    const shipped = await waitStage(id, ['shipped'], 30_000);
    expect(shipped.leaseEpoch).toBe(1);
    expect(readFileSync(join(repo, 'out.txt'), 'utf8')).toBe('survived\n');
    expect(a.log()).toMatch(/coordinator unreachable; report kept in the outbox|heartbeat not accepted/);
  });

  it('quarantines a result whose lease was reclaimed during the outage: never shipped, visible for triage', async () => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-outage-'));
    await startServer(2);
    const repo = makeRepo();
    const { id } = await api('POST', '/api/jobs', {
      body: 'Race.',
      repo,
      agent: {
        runtime: 'command',
        run: 'if [ "$SLOW" = 1 ]; then sleep 6; echo orphan >> out.txt; else echo winner >> out.txt; fi',
      },
      ship: 'merge',
    });
    // --once: after its orphaned run, A must not claim the job again.
    const a = factory('orphan-a', ['--once'], { SLOW: '1' });
    const first = await waitStage(id, ['building']);
    server?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 2500));
    await startServer(2);
    await waitStage(id, ['queued'], 10_000);
    factory('winner-b', []);
    await waitStage(id, ['shipped'], 20_000);
    const deadline = Date.now() + 20_000;
    let quarantined: any[] = [];
    while (quarantined.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      quarantined = await api('GET', `/api/jobs/${id}/quarantine`);
    }
    expect(quarantined).toEqual([
      expect.objectContaining({ epoch: first.leaseEpoch, factoryId: 'orphan-a', triage: null }),
    ]);
    expect(readFileSync(join(repo, 'out.txt'), 'utf8')).toBe('winner\n');
    expect((await api('GET', `/api/jobs/${id}`)).stage).toBe('shipped');
    const triaged = await api('POST', `/api/jobs/${id}/triage`, { quarantineId: quarantined[0].id, action: 'discard' });
    expect(triaged).toMatchObject({ triage: 'discard' });
    expect(a.log()).toMatch(/quarantined/);
  });
});
