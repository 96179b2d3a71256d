import { describe, expect, it } from 'vitest';
import { findShipped, ship } from './ship.js';
import { git } from './git.js';
import { UncommittedChangesError } from './errors.js';
import { makeRepo, writeFiles } from '../../test/helpers/git-repo.js';
import { jobWith, makeBare, rev } from '../../test/helpers/workspace-repos.js';

class Fenced extends Error {}
const fenced = (): Promise<void> => Promise.reject(new Fenced('lease lost'));

describe('ship none', () => {
  it('keeps the job branch on this machine', async () => {
    const origin = makeRepo();
    const before = await git(['for-each-ref'], { cwd: origin });
    const wt = await jobWith(origin, 'job1', { 'a.txt': 'a\n' });
    const result = await ship(wt, { policy: 'none', repo: origin, beforePush: fenced });
    expect(result).toEqual({
      policy: 'none',
      branch: 'conveyor/job1',
      commit: await rev(wt.path, 'HEAD'),
      alreadyShipped: false,
      empty: false,
      attempts: 0,
    });
    expect(await git(['for-each-ref'], { cwd: origin })).toBe(before);
  });

  it('refuses to ship uncommitted work', async () => {
    const origin = makeRepo();
    const wt = await jobWith(origin, 'job1', { 'a.txt': 'a\n' });
    writeFiles(wt.path, { 'late.txt': 'not committed\n' });
    await expect(ship(wt, { policy: 'none', repo: origin })).rejects.toThrow(UncommittedChangesError);
  });
});

describe('ship branch', () => {
  it('pushes conveyor/<jobId> once; a second ship finds it', async () => {
    const { bare, url } = await makeBare();
    const wt = await jobWith(url, 'job1', { 'a.txt': 'a\n' });
    const head = await rev(wt.path, 'HEAD');
    expect(await ship(wt, { policy: 'branch', repo: url })).toMatchObject({
      branch: 'conveyor/job1',
      commit: head,
      alreadyShipped: false,
    });
    expect(await rev(bare, 'refs/heads/conveyor/job1')).toBe(head);
    expect(await ship(wt, { policy: 'branch', repo: url })).toMatchObject({ commit: head, alreadyShipped: true });
  });

  it('pushes nothing when beforePush throws', async () => {
    const { bare, url } = await makeBare();
    const wt = await jobWith(url, 'job1', { 'a.txt': 'a\n' });
    await expect(ship(wt, { policy: 'branch', repo: url, beforePush: fenced })).rejects.toThrow(Fenced);
    expect(await git(['ls-remote', bare, 'refs/heads/conveyor/*'], { cwd: bare })).toBe('');
  });
});

describe('findShipped', () => {
  it('finds a merge an earlier run made from another machine, and nothing before it', async () => {
    const origin = makeRepo();
    const earlier = await jobWith(origin, 'job1', { 'a.txt': 'a\n' });
    // The next claimant: a fresh worktree on a machine of its own.
    const next = await jobWith(origin, 'job1', {});
    expect(await findShipped(next, { policy: 'merge', repo: origin })).toBeUndefined();
    const shipped = await ship(earlier, { policy: 'merge', repo: origin });
    expect(await findShipped(next, { policy: 'merge', repo: origin })).toEqual({
      policy: 'merge',
      branch: 'main',
      commit: shipped.commit,
      alreadyShipped: true,
      empty: false,
      attempts: 0,
    });
    expect(await findShipped(next, { policy: 'none', repo: origin })).toBeUndefined();
  });

  it('finds a published job branch', async () => {
    const { url } = await makeBare();
    const wt = await jobWith(url, 'job1', { 'a.txt': 'a\n' });
    expect(await findShipped(wt, { policy: 'branch', repo: url })).toBeUndefined();
    const shipped = await ship(wt, { policy: 'branch', repo: url });
    expect(await findShipped(wt, { policy: 'branch', repo: url })).toMatchObject({
      branch: 'conveyor/job1',
      commit: shipped.commit,
      alreadyShipped: true,
    });
  });
});
