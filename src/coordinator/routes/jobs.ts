/** The jobs API for people and tools: submit, list, read, cancel, retry, unblock. */
import { ConveyorError, ValidationError } from '../../core/errors.js';
import type { JobSubmission } from '../../core/job.js';
import { parseTaskFile, type TaskFormat } from '../../intake/task-file.js';
import { JobParams } from '../../protocol/common.js';
import {
  CancelBody,
  JobPage,
  ListQuery,
  QuarantineList,
  RejectBody,
  SubmitBody,
  TriageBody,
  UnblockBody,
} from '../../protocol/jobs.js';
import { JobView, QuarantineView } from '../../protocol/views.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, assertStorable, defineRoute, PEOPLE } from '../route.js';
import { assertRepo, toNewJob } from '../submission.js';
import { jobView, quarantineView } from '../views.js';
import { jobReadRoutes } from './job-reads.js';

const MARKDOWN_TYPES = ['text/markdown', 'text/x-markdown', 'text/plain'];
const YAML_TYPES = ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/x-yaml'];

/** A task file as a submission; whatever the parser throws besides a named error (a YAML alias bomb) is bad input too. */
function readTaskFile(text: string, format: TaskFormat): JobSubmission {
  let submission: JobSubmission;
  try {
    submission = parseTaskFile(text, format);
  } catch (error) {
    if (error instanceof ConveyorError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new ValidationError(`task file: cannot be read (${message}); fix the ${format}`, {
      cause: error,
      details: [{ path: 'body', message }],
    });
  }
  // Checked like a JSON body: a YAML escape such as "\0" makes a NUL the raw text does not show.
  assertStorable(submission, 'body');
  return submission;
}

export function jobRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const { store, options } = ctx;
  return [
    defineRoute({
      method: 'POST',
      url: '/api/jobs',
      summary:
        'Submit a job: JSON, or a task file as text/markdown or YAML. It names its repo (an absolute path or a git URL) or requires the capability default-repo. 201 when created, 200 when the idempotency key matched.',
      access: PEOPLE,
      body: SubmitBody,
      response: JobView,
      textBody: [...MARKDOWN_TYPES, ...YAML_TYPES],
      async handler({ body, principal, request, reply }) {
        const submission =
          typeof body === 'string'
            ? readTaskFile(
                body,
                YAML_TYPES.includes(request.headers['content-type']?.split(';')[0]?.trim() ?? '') ? 'yaml' : 'markdown',
              )
            : body;
        assertRepo(submission, typeof body === 'string' ? 'repo' : 'body.repo');
        const header = request.headers['idempotency-key'];
        if (Array.isArray(header) || (header !== undefined && (header === '' || header.length > 200))) {
          throw new ValidationError('header Idempotency-Key: must be one value of 1-200 characters', {
            details: [{ path: 'header.Idempotency-Key', message: 'must be one value of 1-200 characters' }],
          });
        }
        const { job, created } = await store.submit(
          toNewJob(submission, {
            product: principal.product,
            source: typeof body === 'string' ? 'api:task-file' : 'api',
            defaultMaxAttempts: options.maxAttempts,
            idempotencyKey: header,
            repoDefaults: options.repoDefaults,
          }),
        );
        void reply.code(created ? 201 : 200);
        return reply.send(jobView(job));
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/jobs',
      summary:
        'List jobs, newest first: filter by stage (comma list), text and parent (its subtasks); page with cursor.',
      access: PEOPLE,
      query: ListQuery,
      response: JobPage,
      async handler({ query, principal }) {
        const limit = query.limit ?? 50;
        const jobs = await store.listJobs({
          product: principal.product,
          stages: query.stage,
          text: query.q,
          parentId: query.parent,
          before: query.cursor,
          limit: limit + 1,
        });
        const page = jobs.slice(0, limit);
        return { jobs: page.map(jobView), nextCursor: jobs.length > limit ? (page.at(-1)?.id ?? null) : null };
      },
    }),
    ...jobReadRoutes(ctx, '/api/jobs', PEOPLE),
    defineRoute({
      method: 'GET',
      url: '/api/jobs/:id/quarantine',
      summary: 'Results of this job kept for triage because they were produced under a lost lease.',
      access: PEOPLE,
      params: JobParams,
      response: QuarantineList,
      async handler({ params, principal }) {
        return (await store.listQuarantined(principal.product, params.id)).map(quarantineView);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/jobs/:id/triage',
      summary: 'Accept or discard a quarantined result (admins). Nothing is shipped: the decision is recorded.',
      access: ['admin'],
      params: JobParams,
      body: TriageBody,
      response: QuarantineView,
      async handler({ params, body, principal }) {
        return quarantineView(await store.triage(principal.product, params.id, body.quarantineId, body.action));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/jobs/:id/cancel',
      summary:
        'Cancel a job that has not finished (with its unfinished subtasks); a running factory is fenced on its next write.',
      access: PEOPLE,
      params: JobParams,
      body: CancelBody,
      response: JobView,
      async handler({ params, body, principal }) {
        return jobView(await store.cancel(principal.product, params.id, body?.reason));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/jobs/:id/retry',
      summary:
        'Requeue a failed, dead-lettered, cancelled or quarantined job with fresh attempts. A decomposed parent (blocked or cancelled) is not run again: its stopped subtasks are requeued and it waits for them.',
      access: PEOPLE,
      params: JobParams,
      response: JobView,
      async handler({ params, principal }) {
        return jobView(await store.retry(principal.product, params.id));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/jobs/:id/unblock',
      summary: 'Answer a blocked job’s question; the job is requeued with the answer attached.',
      access: PEOPLE,
      params: JobParams,
      body: UnblockBody,
      response: JobView,
      async handler({ params, body, principal }) {
        return jobView(await store.unblock(principal.product, params.id, body.answer));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/jobs/:id/approve',
      summary:
        'Approve the verified work of a job waiting for approval (approval: required): it is requeued for a run that ships exactly the approved commit. 409 when the job is not waiting for approval.',
      access: PEOPLE,
      params: JobParams,
      response: JobView,
      async handler({ params, principal }) {
        return jobView(await store.approve(principal.product, params.id));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/jobs/:id/reject',
      summary:
        'Reject the verified work of a job waiting for approval, with a reason: action retry (default) requeues it for the agent with the reason in its prompt, fail fails it for good. 409 when the job is not waiting for approval.',
      access: PEOPLE,
      params: JobParams,
      body: RejectBody,
      response: JobView,
      async handler({ params, body, principal }) {
        return jobView(await store.reject(principal.product, params.id, body));
      },
    }),
  ];
}
