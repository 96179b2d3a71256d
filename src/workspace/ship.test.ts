import { describe, expect, it } from 'vitest';
import { findShipped, ship } from './ship.js';
import { git } from './git.js';
import { BranchMovedError, UncommittedChangesError } from './errors.js';
import { commitWip } from './wip.js';
import { createWorktree, type Worktree } from './worktree.js';
import { makeRepo, tempDir, writeFiles } from '../../test/helpers/git-repo.js';
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

describe('ship branch onto an existing branch (a review follow-up)', () => {
  /** A worktree for `jobId` started from `base`, with `files` committed. */
  async function from(url: string, jobId: string, base: string, files: Record<string, string>): Promise<Worktree> {
    const wt = await createWorktree({ workdir: tempDir('workdir'), repo: url, jobId, base });
    writeFiles(wt.path, files);
    await commitWip(wt, `work for ${jobId}`);
    return wt;
  }

  it('fast-forwards the branch once per commit, and refuses one that moved elsewhere', async () => {
    const { bare, url } = await makeBare();
    const first = await jobWith(url, 'job1', { 'a.txt': 'a\n' });
    const firstCommit = (await ship(first, { policy: 'branch', repo: url })).commit!;
    const followUp = await from(url, 'job2', 'conveyor/job1', { 'b.txt': 'b\n' });
    const head = await rev(followUp.path, 'HEAD');
    expect(await ship(followUp, { policy: 'branch', repo: url, onto: 'conveyor/job1' })).toMatchObject({
      branch: 'conveyor/job1',
      commit: head,
      alreadyShipped: false,
    });
    expect(await rev(bare, 'refs/heads/conveyor/job1')).toBe(head);
    await git(['merge-base', '--is-ancestor', firstCommit, head], { cwd: bare });
    // A retried run finds its commit there and pushes nothing (beforePush would refuse).
    expect(
      await ship(followUp, { policy: 'branch', repo: url, onto: 'conveyor/job1', beforePush: fenced }),
    ).toMatchObject({ commit: head, alreadyShipped: true });
    expect(await git(['ls-remote', bare, 'refs/heads/conveyor/job2'], { cwd: bare })).toBe('');
    // A follow-up begun before that push: the branch moved to work it does not build on.
    const stale = await from(url, 'job3', firstCommit, { 'c.txt': 'c\n' });
    await expect(ship(stale, { policy: 'branch', repo: url, onto: 'conveyor/job1' })).rejects.toThrow(BranchMovedError);
    expect(await rev(bare, 'refs/heads/conveyor/job1')).toBe(head);
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
