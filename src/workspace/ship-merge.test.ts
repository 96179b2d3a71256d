import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ship } from './ship.js';
import { commitWip } from './wip.js';
import { createWorktree } from './worktree.js';
import { git } from './git.js';
import { MergeConflictError, ShipContendedError, TargetDirtyError } from './errors.js';
import { makeRepo, tempDir, writeFiles } from '../../test/helpers/git-repo.js';
import { commitFiles, jobWith, makeBare, rev, trailerCommits } from '../../test/helpers/workspace-repos.js';

class Fenced extends Error {}
const fenced = (): Promise<void> => Promise.reject(new Fenced('lease lost'));
const count = async (cwd: string, ref: string): Promise<number> =>
  Number((await git(['rev-list', '--count', ref], { cwd })).trim());

describe('ship merge into a local repository', () => {
  it('fast-forwards the checked-out target in the user working tree, once', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const wt = await jobWith(origin, 'job1', { 'feature.txt': 'feature\n' });
    writeFiles(wt.path, { 'more.txt': 'second wip\n' });
    await commitWip(wt, 'second wip');

    const result = await ship(wt, { policy: 'merge', repo: origin, target: 'main', message: 'Add feature' });
    expect(result).toMatchObject({ policy: 'merge', branch: 'main', alreadyShipped: false, empty: false, attempts: 1 });
    expect(result.commit).toBe(await rev(origin, 'main'));
    expect(readFileSync(join(origin, 'feature.txt'), 'utf8')).toBe('feature\n');
    expect(readFileSync(join(origin, 'more.txt'), 'utf8')).toBe('second wip\n');
    expect(await git(['status', '--porcelain'], { cwd: origin })).toBe('');
    expect(await trailerCommits(origin, 'main', 'job1')).toEqual([result.commit]);
    expect(await git(['log', '-1', '--format=%s%n%an', 'main'], { cwd: origin })).toBe('Add feature\nConveyor\n');
    expect(await count(origin, 'main')).toBe(2);
    // The ship ref used to hand the commit over is gone again.
    expect(await git(['for-each-ref', 'refs/conveyor/ship'], { cwd: wt.mirror })).toBe('');

    const again = await ship(wt, { policy: 'merge', repo: origin, target: 'main' });
    expect(again).toMatchObject({ alreadyShipped: true, commit: result.commit });
    expect(await count(origin, 'main')).toBe(2);
  });

  it('retries when the user commits on the checked-out target meanwhile, keeping their commit', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const wt = await jobWith(origin, 'job1', { 'feature.txt': 'feature\n' });
    let userCommit = '';
    const userCommitsOnce = async (): Promise<void> => {
      if (userCommit === '') userCommit = await commitFiles(origin, { 'user.txt': 'mine\n' });
    };
    const result = await ship(wt, { policy: 'merge', repo: origin, target: 'main', beforePush: userCommitsOnce });
    expect(result.attempts).toBe(2);
    expect(await rev(origin, 'main^')).toBe(userCommit);
    expect(await git(['ls-files'], { cwd: origin })).toBe('a.txt\nfeature.txt\nuser.txt\n');
    expect(await git(['status', '--porcelain'], { cwd: origin })).toBe('');
  });

  it('updates a target that is not checked out without touching the working tree', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    await git(['branch', 'release'], { cwd: origin });
    const wt = await jobWith(origin, 'job1', { 'feature.txt': 'feature\n' });
    const result = await ship(wt, { policy: 'merge', repo: origin, target: 'release' });
    expect(await rev(origin, 'release')).toBe(result.commit);
    expect(await rev(origin, 'main')).toBe(wt.baseCommit);
    expect(await git(['status', '--porcelain'], { cwd: origin })).toBe('');
  });

  it('fails clearly and changes nothing when the checked-out target has uncommitted changes', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const wt = await jobWith(origin, 'job1', { 'feature.txt': 'feature\n' });
    writeFileSync(join(origin, 'a.txt'), 'user edit in progress\n');
    const error = await ship(wt, { policy: 'merge', repo: origin, target: 'main' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetDirtyError);
    expect((error as Error).message).toBe(
      `cannot merge into main: it is checked out in ${origin} with uncommitted changes (a.txt); commit or stash them and retry`,
    );
    expect(await rev(origin, 'main')).toBe(wt.baseCommit);
    expect(readFileSync(join(origin, 'a.txt'), 'utf8')).toBe('user edit in progress\n');
  });

  it('leaves the user repository alone when beforePush throws', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const wt = await jobWith(origin, 'job1', { 'feature.txt': 'feature\n' });
    await expect(ship(wt, { policy: 'merge', repo: origin, target: 'main', beforePush: fenced })).rejects.toThrow(
      Fenced,
    );
    expect(await rev(origin, 'main')).toBe(wt.baseCommit);
    expect(await git(['status', '--porcelain'], { cwd: origin })).toBe('');
  });
});

describe('ship merge into a remote (bare) repository', () => {
  it('pushes one squash commit onto the current tip, and only once', async () => {
    const { bare, url, seed } = await makeBare({ 'a.txt': 'a\n' });
    const wt = await jobWith(url, 'job1', { 'feature.txt': 'feature\n' });
    // The target moves after the job started: the job lands on the new tip.
    const moved = await commitFiles(seed, { 'other.txt': 'other\n' });
    await git(['push', '--quiet', 'server', 'main'], { cwd: seed });

    const result = await ship(wt, { policy: 'merge', repo: url, target: 'main' });
    expect(result).toMatchObject({ branch: 'main', alreadyShipped: false, attempts: 1 });
    expect(await rev(bare, 'main')).toBe(result.commit);
    expect(await rev(bare, 'main^')).toBe(moved);
    expect(await git(['ls-tree', '--name-only', 'main'], { cwd: bare })).toBe('a.txt\nfeature.txt\nother.txt\n');
    expect(await trailerCommits(bare, 'main', 'job1')).toEqual([result.commit]);

    expect(await ship(wt, { policy: 'merge', repo: url, target: 'main' })).toMatchObject({
      alreadyShipped: true,
      commit: result.commit,
    });
    // A rerun on another machine, starting from a base that already holds the shipped commit, ships nothing.
    const rerun = await jobWith(url, 'job1', { 'feature.txt': 'feature, take two\n' });
    expect(await ship(rerun, { policy: 'merge', repo: url, target: 'main' })).toMatchObject({ alreadyShipped: true });
    expect(await count(bare, 'main')).toBe(3);
  });

  it('lands both of two jobs racing for the same target, retrying the one that lost', async () => {
    const { bare, url } = await makeBare({ 'a.txt': 'a\n' });
    const a = await jobWith(url, 'job-a', { 'a-feature.txt': 'A\n' });
    const b = await jobWith(url, 'job-b', { 'b-feature.txt': 'B\n' });
    // Both reach the push having merged onto the same tip, so exactly one of them must retry.
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothThere = new Promise<void>((resolve) => (release = resolve));
    const barrier = async (): Promise<void> => {
      if (++arrived === 2) release();
      if (arrived <= 2) await bothThere;
    };
    const [ra, rb] = await Promise.all([
      ship(a, { policy: 'merge', repo: url, target: 'main', beforePush: barrier }),
      ship(b, { policy: 'merge', repo: url, target: 'main', beforePush: barrier }),
    ]);
    expect([ra.attempts, rb.attempts].sort()).toEqual([1, 2]);
    expect(await trailerCommits(bare, 'main', 'job-a')).toEqual([ra.commit]);
    expect(await trailerCommits(bare, 'main', 'job-b')).toEqual([rb.commit]);
    expect(await git(['ls-tree', '--name-only', 'main'], { cwd: bare })).toBe('a-feature.txt\na.txt\nb-feature.txt\n');
    expect(await count(bare, 'main')).toBe(3);
  });

  it('gives up with ShipContendedError when the target moves before every push', async () => {
    const { bare, url, seed } = await makeBare({ 'a.txt': 'a\n' });
    const wt = await jobWith(url, 'job1', { 'feature.txt': 'feature\n' });
    let n = 0;
    const someoneElsePushes = async (): Promise<void> => {
      await commitFiles(seed, { [`other-${++n}.txt`]: 'x\n' });
      await git(['push', '--quiet', 'server', 'main'], { cwd: seed });
    };
    const error = await ship(wt, {
      policy: 'merge',
      repo: url,
      target: 'main',
      maxAttempts: 2,
      beforePush: someoneElsePushes,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShipContendedError);
    expect((error as Error).message).toBe(
      'job job1: main moved during each of 2 attempts to merge into it; try again later',
    );
    expect(await trailerCommits(bare, 'main', 'job1')).toEqual([]);
  });

  it('pushes nothing when beforePush throws', async () => {
    const { bare, url } = await makeBare({ 'a.txt': 'a\n' });
    const wt = await jobWith(url, 'job1', { 'feature.txt': 'feature\n' });
    const before = await git(['for-each-ref'], { cwd: bare });
    await expect(ship(wt, { policy: 'merge', repo: url, target: 'main', beforePush: fenced })).rejects.toThrow(Fenced);
    expect(await git(['for-each-ref'], { cwd: bare })).toBe(before);
  });

  it('names the conflicting files', async () => {
    const { url, seed } = await makeBare({ 'a.txt': 'a\n' });
    const wt = await jobWith(url, 'job1', { 'a.txt': 'job version\n' });
    await commitFiles(seed, { 'a.txt': 'someone else\n' });
    await git(['push', '--quiet', 'server', 'main'], { cwd: seed });
    const error = await ship(wt, { policy: 'merge', repo: url, target: 'main' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MergeConflictError);
    expect((error as MergeConflictError).files).toEqual(['a.txt']);
    expect((error as Error).message).toBe('job job1 conflicts with main in a.txt');
  });

  it('ships nothing for a job that changed nothing, and creates a missing target', async () => {
    const { bare, url } = await makeBare({ 'a.txt': 'a\n' });
    const idle = await createWorktree({ workdir: tempDir('workdir'), repo: url, jobId: 'idle' });
    const before = await git(['for-each-ref'], { cwd: bare });
    expect(await ship(idle, { policy: 'merge', repo: url })).toMatchObject({ branch: 'main', empty: true });
    expect(await git(['for-each-ref'], { cwd: bare })).toBe(before);

    const wt = await jobWith(url, 'job1', { 'new.txt': 'n\n' });
    const result = await ship(wt, { policy: 'merge', repo: url, target: 'release/1' });
    expect(await rev(bare, 'release/1')).toBe(result.commit);
    expect(await rev(bare, 'release/1^')).toBe(wt.baseCommit);
  });
});
