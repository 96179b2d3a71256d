/** Turns a validated submission (JSON body or parsed task file) into the job the store inserts. */
import { isAbsolute } from 'node:path';
import { ValidationError } from '../core/errors.js';
import { type JobSubmission, RUNTIME_CAPABILITY } from '../core/job.js';
import { DEFAULT_REPO_CAPABILITY, isRemoteRepo } from '../core/repo.js';
import { type RepoDefaultsTable, withRepoDefaults } from '../core/repo-defaults.js';
import type { NewJob } from '../store/store.js';
import { titleFromBody } from '../intake/task-file.js';

/**
 * The job the store inserts for `submission`: defaults filled in, the fields a job leaves unset taken
 * from its repository's entry in `repoDefaults` (`[repos]` of the config; the job's own values win).
 */
export function toNewJob(
  submission: JobSubmission,
  context: {
    product: string;
    source: string;
    defaultMaxAttempts: number;
    idempotencyKey?: string | undefined;
    repoDefaults?: RepoDefaultsTable | undefined;
  },
): NewJob {
  const { title, body, source, repo, base, target, capabilities, priority, maxAttempts, idempotencyKey, ...spec } =
    context.repoDefaults === undefined ? submission : withRepoDefaults(submission, context.repoDefaults);
  const runtime = spec.agent === undefined ? undefined : RUNTIME_CAPABILITY[spec.agent.runtime];
  return {
    product: context.product,
    title: title ?? titleFromBody(body),
    body,
    source: source ?? context.source,
    repo: repo ?? null,
    base: base ?? null,
    target: target ?? base ?? null,
    requiredCapabilities: [...new Set([...(capabilities ?? []), ...(runtime === undefined ? [] : [runtime])])].sort(),
    priority: priority ?? 0,
    maxAttempts: maxAttempts ?? context.defaultMaxAttempts,
    spec,
    idempotencyKey: idempotencyKey ?? context.idempotencyKey ?? null,
  };
}

/**
 * Refuses a job no factory could run where its submitter meant: one that names no repository (a
 * factory would otherwise have to guess, and its own working directory is the wrong guess) unless it
 * asks for a factory's default repository or is a tool job, and one whose repository is a relative path (relative to
 * what the coordinator cannot know). `field` names `repo` as the submitter wrote it.
 */
export function assertRepo(submission: JobSubmission, field: string): void {
  const { repo } = submission;
  if (repo === undefined) {
    // A tool job's folder is the factory's scratch repository when it names none.
    if (submission.kind === 'tool' || submission.capabilities?.includes(DEFAULT_REPO_CAPABILITY) === true) return;
    const message =
      'required: name the repository this job changes, as an absolute path or a git URL (in a task file, a path relative to the file, such as repo: ../bookmarks, which `conveyor submit FILE` resolves); or, to run it in the default repository of a factory started with --repo DIR (factory.defaultRepo), require that factory: capabilities: [default-repo]';
    throw new ValidationError(`${field}: ${message}`, { details: [{ path: field, message }] });
  }
  if (!isRemoteRepo(repo) && !isAbsolute(repo)) {
    const message = `"${repo}" is a relative path, and the coordinator cannot tell what it is relative to (a factory would take it relative to its own directory); give an absolute path or a git URL (\`conveyor submit FILE\` resolves a task file's relative repo against the file)`;
    throw new ValidationError(`${field}: ${message}`, { details: [{ path: field, message }] });
  }
}
