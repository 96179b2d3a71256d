/**
 * The jobs API for people and tools: submit, list, read (one job, its runs, its events), triage,
 * cancel, retry, unblock. Request types are what a client sends (`z.input`), answer types what it receives.
 */
import { z } from 'zod';
import { JobSubmissionSchema, TRIAGE_ACTIONS } from '../core/job.js';
import { JOB_ID, STAGE } from './common.js';
import { EventView, JobView, QuarantineView, RunView } from './views.js';

/** `POST /api/jobs` as JSON: the submission `core/` defines (a task file is parsed into the same). */
export const SubmitBody = JobSubmissionSchema;
export type SubmitBody = z.input<typeof SubmitBody>;

/** `GET /api/jobs`: newest first, filtered by stages (a comma list), text and parent; paged by cursor. */
export const ListQuery = z.strictObject({
  stage: z
    .string()
    .transform((value) => value.split(',').filter((s) => s !== ''))
    .pipe(z.array(STAGE))
    .optional(),
  q: z.string().max(200).optional(),
  parent: JOB_ID.optional(),
  cursor: JOB_ID.optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
export type ListQuery = z.input<typeof ListQuery>;

/** A page of `GET /api/jobs`; `nextCursor` continues it. */
export const JobPage = z.strictObject({ jobs: z.array(JobView), nextCursor: JOB_ID.nullable() });
export type JobPage = z.infer<typeof JobPage>;

/**
 * `GET /api/jobs/:id/events`: in `seq` order, all of them unless paged. Forward: `limit` events after
 * the `seq` `after` (continue with the last one's `seq`). Backward: the `last` N events (before the
 * `seq` `before`: continue with the first one's `seq`), as a page showing the newest first asks. A
 * job's agent may leave tens of thousands.
 */
export const JobEventsQuery = z
  .strictObject({
    after: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(5000).optional(),
    last: z.coerce.number().int().min(1).max(5000).optional(),
    before: z.coerce.number().int().min(1).optional(),
  })
  .refine((q) => q.last === undefined || (q.after === undefined && q.limit === undefined), {
    message: 'page forward with after and limit, or backward with last and before, not both',
    path: ['last'],
  })
  .refine((q) => q.before === undefined || q.last !== undefined, {
    message: 'before pages backward: give last (how many events) with it',
    path: ['before'],
  });
export type JobEventsQuery = z.input<typeof JobEventsQuery>;

export const RunList = z.array(RunView);
export const EventList = z.array(EventView);
export const QuarantineList = z.array(QuarantineView);

/** `POST /api/jobs/:id/triage` (admins): accept or discard a quarantined result. */
export const TriageBody = z.strictObject({ quarantineId: JOB_ID, action: z.enum(TRIAGE_ACTIONS) });
export type TriageBody = z.input<typeof TriageBody>;

/** `POST /api/jobs/:id/cancel`: the body and its reason are optional. */
export const CancelBody = z.strictObject({ reason: z.string().min(1).max(2000).optional() }).optional();
export type CancelBody = z.input<typeof CancelBody>;

/** `POST /api/jobs/:id/unblock`: the answer to a blocked job's question. */
export const UnblockBody = z.strictObject({
  answer: z.string().trim().min(1, 'the answer must not be empty').max(20_000),
});
export type UnblockBody = z.input<typeof UnblockBody>;

/**
 * `POST /api/jobs/:id/reject`: why the work waiting for approval is refused, and what then: `retry` (the
 * default) sends it back to the agent with the reason, `fail` fails the job for good.
 */
export const RejectBody = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(1, 'say why the change is rejected: the agent (or the record) gets the reason')
    .max(20_000),
  action: z.enum(['retry', 'fail']).default('retry'),
});
export type RejectBody = z.input<typeof RejectBody>;
