/** Reading one job, its runs and its events: the same three calls for factories and for people. */
import { whyUnclaimable } from '../../core/claimable.js';
import { NotFoundError } from '../../core/errors.js';
import type { Role } from '../../core/job.js';
import { JobParams } from '../../protocol/common.js';
import { EventList, JobEventsQuery, RunList } from '../../protocol/jobs.js';
import { JobDetailView } from '../../protocol/views.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute } from '../route.js';
import { eventView, jobDetailView, runView } from '../views.js';

export function jobReadRoutes(ctx: CoordinatorContext, prefix: string, access: readonly Role[]): AnyRouteSpec[] {
  const { store } = ctx;
  return [
    defineRoute({
      method: 'GET',
      url: `${prefix}/:id`,
      summary: 'One job, with a summary of its subtasks (children) when it was decomposed.',
      access,
      params: JobParams,
      response: JobDetailView,
      async handler({ params, principal }) {
        const job = await store.getJob(principal.product, params.id);
        if (job === undefined) throw new NotFoundError(`no job ${params.id} in product ${principal.product}`);
        // A queued job says why nobody takes it when no live factory could (a capability nobody has).
        const unclaimable =
          job.stage === 'queued'
            ? whyUnclaimable(job.requiredCapabilities, await store.listFactories(principal.product))
            : undefined;
        return jobDetailView(job, await store.listChildren(principal.product, job.id), unclaimable);
      },
    }),
    defineRoute({
      method: 'GET',
      url: `${prefix}/:id/runs`,
      summary: 'The runs (one per lease) of a job, oldest first.',
      access,
      params: JobParams,
      response: RunList,
      async handler({ params, principal }) {
        return (await store.jobRuns(principal.product, params.id)).map(runView);
      },
    }),
    defineRoute({
      method: 'GET',
      url: `${prefix}/:id/events`,
      summary:
        'The events of a job in seq order; page forward with limit and after (the last seq received), or backward with last (the newest N) and before (the first seq received).',
      access,
      params: JobParams,
      query: JobEventsQuery,
      response: EventList,
      async handler({ params, query, principal }) {
        return (await store.jobEvents(principal.product, params.id, query)).map(eventView);
      },
    }),
  ];
}
