/**
 * Nothing twice, nothing lost: a factory killed between its merge and its report (a `post-merge` hook in
 * the target repository kills it with -9) leaves the job's commit on `main`. With `maxAttempts: 1` the
 * reaper must not dead-letter the job blind: it queues it for a reconcile-only claim, and the next
 * factory finds the commit by its `Conveyor-Job` trailer and reports the job shipped. On both backends.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BACKENDS } from './helpers/databases.js';
import { type FactoryProcess, spawnFactory, until } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';
import { submitAppendJob, untilEnded } from './helpers/append-jobs.js';

interface EventRow {
  type: string;
  actor: string;
  payload: Record<string, unknown>;
}

describe.each(BACKENDS)('a factory killed between its merge and its report, on %s', (backend) => {
  const factories: FactoryProcess[] = [];
  let tc: TestCoordinator;
  let repo: string;
  /** A factory process on the coordinator, killed after the test if still running. */
  const factory = (id: string): FactoryProcess => {
    const started = spawnFactory({ url: tc.url, token: tc.tokens.factory, id });
    factories.push(started);
    return started;
  };
  beforeEach(async () => {
    tc = await startTestCoordinator(backend, FAST_LEASES);
    repo = makeRepo();
  });
  afterEach(async () => {
    for (const f of factories) if (f.child.exitCode === null) f.child.kill('SIGKILL');
    await tc.close();
  });

  it('ships the job once: the next claim finds its commit on the target instead of dead-lettering it', async () => {
    const first = factory('killed-after-merge');
    // Runs once, right after the factory fast-forwarded `main`, and kills it before it can report.
    const hook = join(repo, '.git', 'hooks', 'post-merge');
    writeFileSync(hook, `#!/bin/sh\nrm -f "$0"\nkill -9 ${String(first.child.pid)}\n`);
    chmodSync(hook, 0o755);
    const id = await submitAppendJob(tc, repo, 'marks.txt', { maxAttempts: 1 });
    await first.exited;
    expect(gitIn(repo, 'log', '-1', '--format=%(trailers:key=Conveyor-Job,valueonly)', 'main').trim()).toBe(id);

    factory('next-claimant');
    const job = await untilEnded(tc, id);
    const events = (await tc.call('GET', `/api/jobs/${id}/events`)).body as EventRow[];
    const where = JSON.stringify(events.map((e) => [e.type, e.actor, e.payload]));
    expect(job, where).toMatchObject({ stage: 'shipped', attempts: 1 });
    expect(events.find((e) => e.type === 'lease.expired')?.payload, where).toMatchObject({
      to: 'queued',
      reconcile: true,
    });
    const head = gitIn(repo, 'rev-parse', 'main').trim();
    expect(events.find((e) => e.type === 'ship.reconciled')?.payload, where).toMatchObject({
      policy: 'merge',
      branch: 'main',
      commit: head,
      how: 'trailer',
      foundBy: 'claimant',
    });
    expect(gitIn(repo, 'show', 'main:marks.txt')).toBe('once\n');
    expect(gitIn(repo, 'log', '--format=%(trailers:key=Conveyor-Job,valueonly)', 'main').trim()).toBe(id);
  }, 120_000);

  it('dead-letters the job when the reconcile claim finds nothing of it on the target', async () => {
    const first = factory('killed-in-verify');
    // Killed while verifying: it could have been about to ship, but did not.
    const id = await submitAppendJob(tc, repo, 'marks.txt', { verify: ['sleep 60'], maxAttempts: 1 });
    await until('the job to be testing', async () => {
      const body = (await tc.call('GET', `/api/jobs/${id}`)).body as { stage: string };
      return body.stage === 'testing' ? true : undefined;
    });
    first.child.kill('SIGKILL');
    await first.exited;
    factory('next-claimant');
    const job = await untilEnded(tc, id);
    expect(job).toMatchObject({ stage: 'dead_letter', attempts: 1, error: { code: 'not_shipped' } });
    expect(gitIn(repo, 'log', '--format=%(trailers:key=Conveyor-Job,valueonly)', 'main').trim()).toBe('');
  }, 120_000);
});
