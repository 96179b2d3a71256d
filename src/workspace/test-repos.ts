/** Helpers for tests: real git repositories in temporary directories, removed after each test file. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import { git } from './git.js';
import { commitWip } from './wip.js';
import { createWorktree, type Worktree } from './worktree.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(label = 'ws'): string {
  const dir = mkdtempSync(join(tmpdir(), `conveyor-${label}-`));
  made.push(dir);
  return dir;
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
}

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

/** A non-bare repository on branch `main` with one commit holding `files`. */
export async function makeRepo(files: Record<string, string> = { 'README.md': 'hello\n' }): Promise<string> {
  const repo = join(tempDir('repo'), 'project');
  mkdirSync(repo);
  await git(['init', '--quiet', '--initial-branch=main'], { cwd: repo });
  await commitFiles(repo, files, 'initial');
  return repo;
}

/** A bare repository (like a server's) whose `main` holds `files`; also returns a clone to push from. */
export async function makeBare(files?: Record<string, string>): Promise<{ bare: string; url: string; seed: string }> {
  const seed = await makeRepo(files);
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
