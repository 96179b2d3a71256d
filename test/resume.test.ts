/**
 * A run resumed from a checkpoint continues after the steps that finished: a factory killed with -9
 * right after its agent step's checkpoint was reported is restarted on the same workdir, resumes the
 * job from the WIP commit, and does not run the agent again on top of its own work.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FAST_LEASES, startTestCoordinator } from './helpers/coordinator.js';
import { type FactoryProcess, spawnFactory, until } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';
import { submitAppendJob, untilEnded } from './helpers/append-jobs.js';

interface EventRow {
  type: string;
  payload: Record<string, unknown>;
}

describe('resuming a run after its agent step', () => {
  const factories: FactoryProcess[] = [];
  afterEach(() => {
    for (const f of factories) if (f.child.exitCode === null) f.child.kill('SIGKILL');
  });

  it('applies the agent step once: a.txt holds its line once on the target', async () => {
    const tc = await startTestCoordinator('sqlite', FAST_LEASES);
    try {
      const repo = makeRepo();
      const first = spawnFactory({ url: tc.url, token: tc.tokens.factory, id: 'first' });
      factories.push(first);
      // Time for the kill to land after the checkpoint and before the ship.
      const id = await submitAppendJob(tc, repo, 'a.txt', { verify: ['sleep 3'], maxAttempts: 3 });
      const events = async (): Promise<EventRow[]> =>
        (await tc.call('GET', `/api/jobs/${id}/events`)).body as EventRow[];
      const checkpoint = await until('the agent step checkpoint', async () =>
        (await events()).find((e) => e.type === 'checkpoint.saved'),
      );
      first.child.kill('SIGKILL');
      await first.exited;

      // The same machine comes back: the WIP commit is in its workdir.
      factories.push(spawnFactory({ url: tc.url, token: tc.tokens.factory, id: 'second', workdir: first.workdir }));
      const job = await untilEnded(tc, id);
      const where = JSON.stringify((await events()).map((e) => [e.type, e.payload]));
      expect(job, where).toMatchObject({ stage: 'shipped' });
      expect(gitIn(repo, 'show', 'main:a.txt'), where).toBe('once\n');
      expect(checkpoint.payload).toMatchObject({ finished: ['agent'] });
    } finally {
      await tc.close();
    }
  }, 120_000);
});
