/**
 * A factory killed with -9 leaves its worktrees behind; a factory started again on the same workdir
 * removes those that no live job owns before it claims anything. Real processes, real git.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { spawnFactory, until } from './helpers/factory-process.js';
import { makeRepo } from './helpers/git-repo.js';

describe('a factory restarted on the workdir of one killed with -9', () => {
  let tc: TestCoordinator;

  // Returning the teardown: the coordinator closes after the suite. Leases of 30 s: the neighbour's
  // lease below must outlive the restart.
  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite');
    return () => tc.close();
  });

  it('removes the worktrees no live job owns and keeps one whose lease another factory holds', async () => {
    const repo = makeRepo();
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Take a while.', repo, agent: { runtime: 'command', run: 'sleep 30' } },
    });
    const id = submitted.body.id as string;
    const killed = spawnFactory({ url: tc.url, token: tc.tokens.factory, id: 'restart-a' });
    const worktree = join(killed.workdir, 'worktrees', id);
    await until('the running job’s worktree', () => Promise.resolve(existsSync(worktree) ? true : undefined));
    killed.child.kill('SIGKILL');
    await killed.exited;
    // A person gives up on the job: no live job owns its worktree now.
    expect((await tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} })).body.stage).toBe('cancelled');

    // Another job whose lease a factory sharing the workdir holds: its worktree must stay.
    const other = (
      await tc.call('POST', '/api/jobs', { json: { body: 'Held elsewhere.', repo: 'https://git.example/app.git' } })
    ).body.id as string;
    const held = await tc.call('POST', '/api/fleet/claim', {
      token: tc.tokens.factory,
      json: { factoryId: 'restart-neighbour', capabilities: [] },
    });
    expect(held.body.job.id).toBe(other);
    const neighbours = join(killed.workdir, 'worktrees', other);
    mkdirSync(neighbours);

    const restarted = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'restart-b',
      args: ['--once'],
      workdir: killed.workdir,
    });
    expect(await restarted.exited, restarted.log()).toBe(0);
    expect(existsSync(worktree), restarted.log()).toBe(false);
    expect(existsSync(neighbours)).toBe(true);
    expect(restarted.log()).toContain('removed worktrees that no live job owns');
  });
});
