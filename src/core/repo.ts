/**
 * What a job's `repo` string names: a remote repository (a URL such as `https://…` or `file://…`, or
 * git's scp-like `user@host:path`) or a path on the machine that reads it. A path means nothing without
 * the directory it is relative to, so jobs hold absolute ones: the submitter resolves a task file's
 * relative `repo` against the file.
 */

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
// scp-like syntax (`git@host:owner/repo.git`): a colon before the first slash.
const SCP_LIKE = /^[^/]+:/;

/** Whether `repo` is a URL or git's scp-like remote, rather than a path on this machine. */
export function isRemoteRepo(repo: string): boolean {
  return URL_SCHEME.test(repo) || SCP_LIKE.test(repo);
}

/**
 * The capability a factory with a default repository (`factory.defaultRepo`, `--repo`) advertises. A
 * job that names no `repo` must require it: only such a factory may run it, in that repository.
 */
export const DEFAULT_REPO_CAPABILITY = 'default-repo';
