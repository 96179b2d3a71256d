/** What a job's `repo` string points at: a local repository (path) or a remote one (URL). */
import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { isRemoteRepo } from '../core/repo.js';
import { gitResult } from './git.js';

export interface RepoLocation {
  /** What git is given as the mirror's `origin`: an absolute path or the URL as written. */
  url: string;
  /** A path on this machine (not a URL, `file://` counts as a URL). */
  local: boolean;
  /** For a local repository, whether it is bare; a non-bare one has a working tree we must not clobber. */
  bare: boolean;
}

/** The origin URL or absolute path for `repo` (relative paths resolve against `cwd`). */
export function repoUrl(repo: string, cwd: string = process.cwd()): string {
  if (isRemoteRepo(repo)) return repo;
  return resolve(cwd, repo);
}

/** Where `repo` is and, when it is local, whether it is bare. */
export async function locateRepo(repo: string, cwd?: string): Promise<RepoLocation> {
  const url = repoUrl(repo, cwd);
  if (url !== resolve(url)) return { url, local: false, bare: true };
  const result = await gitResult(['rev-parse', '--is-bare-repository'], { cwd: url });
  return { url, local: true, bare: result.exitCode === 0 && result.stdout.trim() === 'true' };
}

/** `<safe-name>-<short hash>`: readable, and distinct for distinct repositories. */
export function mirrorName(url: string): string {
  const tail = basename(url.replace(/[/\\]+$/, '').replace(/^.*:/, '')).replace(/\.git$/, '');
  const safe =
    tail
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[.-]+/, '')
      .slice(0, 40) || 'repo';
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 12);
  return `${safe}-${hash}`;
}
