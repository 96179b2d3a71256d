/** Real git repositories for tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const IDENTITY = ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', '-c', 'init.defaultBranch=main'];

export function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...IDENTITY, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A non-bare repository on `main` with one commit holding `files`. */
export function makeRepo(files: Record<string, string> = { 'README.md': '# sample\n' }): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-repo-'));
  gitIn(dir, 'init', '--quiet');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  gitIn(dir, 'add', '--all');
  gitIn(dir, 'commit', '--quiet', '-m', 'initial');
  return dir;
}
