/**
 * Repository defaults: what a job leaves unset takes the value its repository's entry gives
 * (`[repos."<path or URL>"]` in the coordinator's `conveyor.toml`); a job's own value always wins.
 */
import type { z } from 'zod';
import { JobSubmissionSchema } from './job.js';
import { isRemoteRepo } from './repo.js';

/**
 * The submission fields a repository may default, with the job's own schema (so a default is checked
 * exactly as the field is). Another field is one more line here.
 */
export const RepoDefaultsSchema = JobSubmissionSchema.pick({
  setup: true,
  verify: true,
  approval: true,
});
export type RepoDefaults = z.infer<typeof RepoDefaultsSchema>;

/** Repository defaults by repository, keyed by `repoKey`. */
export type RepoDefaultsTable = ReadonlyMap<string, RepoDefaults>;

/**
 * How a repository is looked up in the defaults: a path without trailing slashes, a URL without
 * trailing slashes or `.git` (`https://h/o/r.git/` and `https://h/o/r` are one repository).
 */
export function repoKey(repo: string): string {
  const trimmed = repo.trim().replace(/\/+$/, '');
  return isRemoteRepo(trimmed) ? trimmed.replace(/\.git$/, '') : trimmed;
}

/** `task` with every field it leaves unset (`undefined`) taken from `defaults`. */
export function withDefaults<T extends Partial<RepoDefaults>>(task: T, defaults: RepoDefaults | undefined): T {
  if (defaults === undefined) return task;
  const merged: Record<string, unknown> = { ...task };
  for (const [field, value] of Object.entries(defaults)) {
    if (merged[field] === undefined && value !== undefined) merged[field] = value;
  }
  return merged as T;
}

/** `task` with the defaults of its repository (none when it names none or the table has no entry for it). */
export function withRepoDefaults<T extends Partial<RepoDefaults> & { repo?: string | undefined }>(
  task: T,
  table: RepoDefaultsTable,
): T {
  return task.repo === undefined ? task : withDefaults(task, table.get(repoKey(task.repo)));
}
