/** Helpers for the workspace's tests: commits, bare repositories and job worktrees over `makeRepo`'s repositories. */
import { dirname, join } from 'node:path';
import { git } from '../../src/workspace/git.js';
import { commitWip } from '../../src/workspace/wip.js';
import { createWorktree, type Worktree } from '../../src/workspace/worktree.js';
import { makeRepo, tempDir, writeFiles } from './git-repo.js';

const USER = {
  GIT_AUTHOR_NAME: 'User',
  GIT_AUTHOR_EMAIL: 'user@example.com',
  GIT_COMMITTER_NAME: 'User',
  GIT_COMMITTER_EMAIL: 'user@example.com',
};

/** Writes `files` in `repo` and commits them (as a user, not as Conveyor); returns the new commit. */
export async function commitFiles(repo: string, files: Record<string, string>, message = 'change'): Promise<string> {
  writeFiles(repo, files);
  await git(['add', '--all'], { cwd: repo });
  await git(['commit', '--quiet', '--no-gpg-sign', '-m', message], { cwd: repo, env: USER });
  return (await git(['rev-parse', 'HEAD'], { cwd: repo })).trim();
}

/** A bare repository (like a server's) whose `main` holds `files`; also returns a clone to push from. */
export async function makeBare(files?: Record<string, string>): Promise<{ bare: string; url: string; seed: string }> {
  const seed = makeRepo(files);
  const bare = join(tempDir('bare'), 'project.git');
  await git(['clone', '--quiet', '--bare', seed, bare], { cwd: dirname(bare) });
  await git(['remote', 'add', 'server', bare], { cwd: seed });
  return { bare, url: `file://${bare}`, seed };
}

export async function rev(cwd: string, ref: string): Promise<string> {
  return (await git(['rev-parse', ref], { cwd })).trim();
}

/** Commits on `ref` whose `Conveyor-Job` trailer is `jobId`. */
export async function trailerCommits(cwd: string, ref: string, jobId: string): Promise<string[]> {
  const out = await git(['log', '--format=%H %(trailers:key=Conveyor-Job,valueonly,separator=%x2C)', ref], { cwd });
  return out
    .split('\n')
    .filter((line) => line.split(' ')[1] === jobId)
    .map((line) => line.split(' ')[0] ?? '');
}

/** A worktree for `jobId` of `repo` (in a fresh workdir: a machine of its own) with `files` written and committed. */
export async function jobWith(
  repo: string,
  jobId: string,
  files: Record<string, string>,
  workdir = tempDir('workdir'),
): Promise<Worktree> {
  const wt = await createWorktree({ workdir, repo, jobId });
  writeFiles(wt.path, files);
  await commitWip(wt, `work for ${jobId}`);
  return wt;
}
