import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitWip, pushWip } from './wip.js';
import { createWorktree, removeWorktree } from './worktree.js';
import { git } from './git.js';
import { WorkspaceInputError } from './errors.js';
import { makeRepo, tempDir, writeFiles } from '../../test/helpers/git-repo.js';
import { commitFiles, rev } from '../../test/helpers/workspace-repos.js';

describe('createWorktree', () => {
  it('checks out the HEAD branch on conveyor/<jobId> under <workdir>/worktrees', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const workdir = tempDir('workdir');
    const wt = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    expect(wt.path).toBe(join(workdir, 'worktrees', 'job1'));
    expect(wt.branch).toBe('conveyor/job1');
    expect(wt.baseCommit).toBe(await rev(origin, 'main'));
    expect(readFileSync(join(wt.path, 'a.txt'), 'utf8')).toBe('a\n');
    expect((await git(['branch', '--show-current'], { cwd: wt.path })).trim()).toBe('conveyor/job1');
  });

  it('starts from a named base branch', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    await git(['checkout', '--quiet', '-b', 'feature'], { cwd: origin });
    const feature = await commitFiles(origin, { 'f.txt': 'f\n' });
    await git(['checkout', '--quiet', 'main'], { cwd: origin });
    const wt = await createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId: 'job1', base: 'feature' });
    expect(wt.baseCommit).toBe(feature);
    expect(existsSync(join(wt.path, 'f.txt'))).toBe(true);
    await expect(
      createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId: 'job2', base: 'nope' }),
    ).rejects.toThrow(/base ref "nope" does not exist/);
  });

  it('resumes from a WIP commit that only the origin has, as refs/conveyor/wip/<jobId>', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const first = await createWorktree({ workdir: tempDir('machine-a'), repo: origin, jobId: 'job1' });
    writeFiles(first.path, { 'wip.txt': 'half done\n' });
    const { commit } = await commitWip(first, 'checkpoint after engineer');
    expect(await pushWip(first)).toBe(commit);
    expect(await rev(origin, 'refs/conveyor/wip/job1')).toBe(commit);
    await commitFiles(origin, { 'later.txt': 'someone else\n' });

    const resumed = await createWorktree({
      workdir: tempDir('machine-b'),
      repo: origin,
      jobId: 'job1',
      resumeCommit: commit,
    });
    expect(await rev(resumed.path, 'HEAD')).toBe(commit);
    expect(readFileSync(join(resumed.path, 'wip.txt'), 'utf8')).toBe('half done\n');
    // Measured from where the job forked from main, not from main's newer tip.
    expect(resumed.baseCommit).toBe(first.baseCommit);
  });

  it('says so when the resume commit cannot be found', async () => {
    const origin = makeRepo();
    const options = { workdir: tempDir('workdir'), repo: origin, jobId: 'job1' };
    await expect(createWorktree({ ...options, resumeCommit: 'deadbeefdeadbeef' })).rejects.toThrow(
      /resume commit deadbeefdeadbeef of job job1 is neither in the mirror nor at the origin's refs\/conveyor\/wip\/job1/,
    );
    await expect(createWorktree({ ...options, resumeCommit: 'main; rm -rf' })).rejects.toThrow(WorkspaceInputError);
  });

  it('replaces the worktree a crashed earlier run left behind', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const workdir = tempDir('workdir');
    const crashed = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    writeFiles(crashed.path, { 'junk.txt': 'left over\n', 'a.txt': 'changed\n' });
    await commitWip(crashed, 'wip');
    writeFiles(crashed.path, { 'more-junk.txt': 'uncommitted\n' });

    const again = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    expect(again.path).toBe(crashed.path);
    expect(existsSync(join(again.path, 'junk.txt'))).toBe(false);
    expect(existsSync(join(again.path, 'more-junk.txt'))).toBe(false);
    expect(readFileSync(join(again.path, 'a.txt'), 'utf8')).toBe('a\n');
    expect(await rev(again.path, 'HEAD')).toBe(again.baseCommit);

    // A worktree whose directory vanished but whose record stayed is replaced too.
    rmSync(again.path, { recursive: true, force: true });
    const third = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    expect(readFileSync(join(third.path, 'a.txt'), 'utf8')).toBe('a\n');
  });

  it('creates worktrees for several jobs on one repository at once', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const workdir = tempDir('workdir');
    const jobs = ['job-a', 'job-b', 'job-c', 'job-d'];
    const wts = await Promise.all(jobs.map((jobId) => createWorktree({ workdir, repo: origin, jobId })));
    expect(new Set(wts.map((wt) => wt.mirror)).size).toBe(1);
    for (const wt of wts) {
      expect(readFileSync(join(wt.path, 'a.txt'), 'utf8')).toBe('a\n');
      expect((await git(['branch', '--show-current'], { cwd: wt.path })).trim()).toBe(`conveyor/${wt.jobId}`);
    }
    const list = await git(['worktree', 'list', '--porcelain'], { cwd: wts[0]!.mirror });
    for (const wt of wts) expect(list).toContain(`worktree ${wt.path}\n`);
  });

  it('refuses a job id that is not a safe path segment', async () => {
    const origin = makeRepo();
    for (const jobId of ['../escape', 'a/b', '', '.hidden']) {
      await expect(createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId })).rejects.toThrow(
        WorkspaceInputError,
      );
    }
  });
});

describe('removeWorktree', () => {
  it('removes the files and the record, keeping the job branch unless asked', async () => {
    const origin = makeRepo();
    const workdir = tempDir('workdir');
    const wt = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    writeFileSync(join(wt.path, 'x.txt'), 'x');
    const { commit } = await commitWip(wt, 'wip');
    await removeWorktree(wt);
    expect(existsSync(wt.path)).toBe(false);
    expect(await git(['worktree', 'list', '--porcelain'], { cwd: wt.mirror })).not.toContain(wt.path);
    expect(await rev(wt.mirror, 'refs/heads/conveyor/job1')).toBe(commit);

    const again = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    await removeWorktree(again, { deleteBranch: true });
    expect(await git(['branch', '--list', 'conveyor/job1'], { cwd: wt.mirror })).toBe('');
  });
});

describe('commitWip', () => {
  it('commits new, changed and deleted files with the job trailer, as Conveyor', async () => {
    const origin = makeRepo({ 'keep.txt': 'k\n', 'change.txt': 'old\n', 'delete.txt': 'd\n' });
    const wt = await createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId: 'job1' });
    writeFiles(wt.path, { 'new/file.txt': 'new\n', 'change.txt': 'new\n' });
    rmSync(join(wt.path, 'delete.txt'));

    const result = await commitWip(wt, 'wip: engineer');
    expect(result.changed).toBe(true);
    expect(result.commit).toBe(await rev(wt.path, 'HEAD'));
    const show = await git(['show', '--name-status', '--format=%an%n%B', 'HEAD'], { cwd: wt.path });
    expect(show).toContain('Conveyor\nwip: engineer\n\nConveyor-Job: job1\n');
    expect(show).toContain('A\tnew/file.txt');
    expect(show).toContain('M\tchange.txt');
    expect(show).toContain('D\tdelete.txt');
    expect(show).not.toContain('keep.txt');
    expect(await git(['status', '--porcelain'], { cwd: wt.path })).toBe('');

    expect(await commitWip(wt, 'nothing new')).toEqual({ commit: result.commit, changed: false });
  });
});

describe('idle worktrees', () => {
  it('parks a finished worktree and hands the next job exactly the files a fresh one would have', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n', '.gitignore': 'build/\n', 'dir/b.txt': 'b\n' });
    const workdir = tempDir('workdir');
    const first = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    writeFiles(first.path, { 'a.txt': 'changed\n', 'new.txt': 'new\n' });
    await commitWip(first, 'job1 work');
    writeFiles(first.path, { 'untracked.txt': 'u\n', 'build/out.js': 'ignored\n', 'dir/b.txt': 'dirty\n' });
    await removeWorktree(first, { keepIdle: 1 });
    expect(existsSync(first.path)).toBe(false);

    const second = await createWorktree({ workdir, repo: origin, jobId: 'job2' });
    expect(second.path).toBe(join(workdir, 'worktrees', 'job2'));
    expect((await git(['branch', '--show-current'], { cwd: second.path })).trim()).toBe('conveyor/job2');
    expect(await rev(second.path, 'HEAD')).toBe(await rev(origin, 'main'));
    expect(await git(['status', '--porcelain', '--ignored'], { cwd: second.path })).toBe('');
    expect(readFileSync(join(second.path, 'a.txt'), 'utf8')).toBe('a\n');
    expect(existsSync(join(second.path, 'new.txt'))).toBe(false);
    // The pool is empty again, and the mirror knows exactly one worktree besides itself.
    const listed = (await git(['worktree', 'list', '--porcelain'], { cwd: second.mirror }))
      .split('\n')
      .filter((line) => line.startsWith('worktree '));
    expect(listed).toHaveLength(2);
    // job1's branch survives (its result may live only there), and can be checked out again by a retry.
    const retried = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    expect(readFileSync(join(retried.path, 'a.txt'), 'utf8')).toBe('a\n');
  });

  it('keeps at most keepIdle parked per repository and deletes the rest', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const workdir = tempDir('workdir');
    const one = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    const two = await createWorktree({ workdir, repo: origin, jobId: 'job2' });
    await removeWorktree(one, { keepIdle: 1 });
    await removeWorktree(two, { keepIdle: 1 });
    expect(existsSync(two.path)).toBe(false);
    const listed = (await git(['worktree', 'list', '--porcelain'], { cwd: one.mirror }))
      .split('\n')
      .filter((line) => line.startsWith('worktree '));
    expect(listed).toHaveLength(2);
  });
});
