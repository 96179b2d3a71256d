/**
 * Real git repositories for tests, in temporary directories removed after each test file. `makeRepo`
 * is the one way a test makes a repository; `gitIn` runs git there synchronously, as a person would.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new empty directory, removed after the test file. */
export function tempDir(label = 'ws'): string {
  const dir = mkdtempSync(join(tmpdir(), `conveyor-${label}-`));
  made.push(dir);
  return dir;
}

/** Writes `files` (nested paths allowed) under `root`. */
export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
}

/** A user's identity, not Conveyor's, on `main`, never signing. */
const CONFIG = [
  ...['-c', 'user.name=Test', '-c', 'user.email=test@localhost'],
  ...['-c', 'init.defaultBranch=main', '-c', 'commit.gpgSign=false'],
];

export function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...CONFIG, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A non-bare repository `…/project` on branch `main` with one commit holding `files`. */
export function makeRepo(files: Record<string, string> = { 'README.md': '# sample\n' }): string {
  const repo = join(tempDir('repo'), 'project');
  mkdirSync(repo);
  gitIn(repo, 'init', '--quiet');
  writeFiles(repo, files);
  gitIn(repo, 'add', '--all');
  gitIn(repo, 'commit', '--quiet', '-m', 'initial');
  return repo;
}
