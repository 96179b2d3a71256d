/** Turns a validated submission (JSON body or parsed task file) into the job the store inserts. */
import { type JobSubmission, RUNTIME_CAPABILITY } from '../core/job.js';
import type { NewJob } from '../store/store.js';
import { titleFromBody } from '../intake/task-file.js';

export function toNewJob(
  submission: JobSubmission,
  context: { product: string; source: string; defaultMaxAttempts: number; idempotencyKey?: string | undefined },
): NewJob {
  const { title, body, source, repo, base, target, capabilities, priority, maxAttempts, idempotencyKey, ...spec } =
    submission;
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
