/**
 * The fleet protocol (DESIGN §4): heartbeat, claim, report, renew, release, runs and events. Every call
 * with a body names its factory; a token bound to one factory may only speak as that one (403).
 */
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { AGENT_COMMANDS } from '../../core/job.js';
import { EVENT_CATALOGUE } from '../../core/events.js';
import { JobParams } from '../../protocol/common.js';
import type { ReportedEvent } from '../../core/events.js';
import {
  ApprovalBody,
  ClaimBatch,
  ClaimBatchBody,
  ClaimBody,
  ClaimedJob,
  EpochBody,
  EventsAnswer,
  EventsBatchAnswer,
  EventsBatchBody,
  EventsBody,
  Heartbeat,
  HeartbeatAnswer,
  QuarantineBody,
  RenewAnswer,
  Report,
  SubtasksAnswer,
  SubtasksBody,
} from '../../protocol/fleet.js';
import { JobView, QuarantineView } from '../../protocol/views.js';
import { AgentCredentialAnswer } from '../../protocol/agent.js';
import type { FastifyReply } from 'fastify';
import { assertActsAs, issueAgentCredential, type Principal } from '../auth.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute, FLEET } from '../route.js';
import { iso, jobView, quarantineView } from '../views.js';
import { toErrorResponse } from '../errors.js';
import type { Claim } from '../../store/store.js';
import { jobReadRoutes } from './job-reads.js';

export function fleetRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const { store, options, metrics, waiters } = ctx;

  /**
   * Up to `maxJobs` jobs for the factory, parked up to `waitMs` for the first (none: nothing came, or the
   * factory went away, in which case what was claimed for it meanwhile is released at once).
   */
  const claimJobs = async (
    body: ClaimBody,
    maxJobs: number,
    principal: Principal,
    reply: FastifyReply,
  ): Promise<Claim[]> => {
    assertActsAs(principal, body.factoryId);
    const abort = new AbortController();
    const onClose = (): void => {
      abort.abort();
    };
    // The response's 'close' means the client went away (the request's fires once its body is read).
    reply.raw.once('close', onClose);
    ctx.closing.addEventListener('abort', onClose);
    // Read through a function: the client can go away in a callback while a claim awaits.
    const gone = (): boolean => abort.signal.aborted || reply.raw.destroyed;
    try {
      const deadline = Date.now() + (body.waitMs ?? 0);
      for (;;) {
        // A factory that went away while parked must not be handed a job it will never run.
        if (gone()) return [];
        // Only a claim that may park arms a waiter: arming starts the product's claimable check (a
        // grouped count of its queued jobs), which a claim answered at once must not pay for.
        const waiter =
          body.waitMs !== undefined && body.waitMs > 0 ? waiters.arm(principal.product, body.capabilities) : undefined;
        // A long poll parks without its own query when the product's fresh check found nothing for it.
        const claims =
          waiter !== undefined && !waiter.mayClaim()
            ? []
            : await store.claimJobs(
                {
                  product: principal.product,
                  factoryId: body.factoryId,
                  capabilities: body.capabilities,
                  leaseTtlMs: options.leaseTtlMs,
                },
                maxJobs,
              );
        if (claims.length > 0) {
          waiter?.disarm();
          if (gone()) {
            // It left while the claim was being made: give the jobs back at once, not at lease expiry.
            for (const claim of claims) {
              await store.release({
                product: principal.product,
                jobId: claim.job.id,
                leaseEpoch: claim.leaseEpoch,
                factoryId: body.factoryId,
              });
            }
            return [];
          }
          metrics.claims.inc(claims.length);
          return claims;
        }
        const remaining = deadline - Date.now();
        if (waiter === undefined || remaining <= 0 || abort.signal.aborted) {
          waiter?.disarm();
          return [];
        }
        await waiter.wait(remaining, abort.signal);
      }
    } finally {
      reply.raw.off('close', onClose);
      ctx.closing.removeEventListener('abort', onClose);
    }
  };

  /** The tokens and cost of the `llm.call` events a factory recorded, for the metrics. */
  const countLlmCalls = (events: readonly ReportedEvent[]): void => {
    for (const event of events) {
      if (event.type !== 'llm.call') continue;
      const call = EVENT_CATALOGUE['llm.call'].payload.safeParse(event.payload);
      if (!call.success) continue;
      const { model, inputTokens, outputTokens, cachedTokens, costUsd } = call.data;
      metrics.llmTokens.inc({ model, kind: 'input' }, inputTokens ?? 0);
      metrics.llmTokens.inc({ model, kind: 'output' }, outputTokens ?? 0);
      metrics.llmTokens.inc({ model, kind: 'cached' }, cachedTokens ?? 0);
      if (costUsd !== undefined) metrics.llmCostUsd.inc({ model }, costUsd);
    }
  };

  return [
    defineRoute({
      method: 'POST',
      url: '/api/fleet/factories/heartbeat',
      summary: 'Register (first call) or refresh a factory; answers whether it should drain.',
      access: FLEET,
      body: Heartbeat,
      response: HeartbeatAnswer,
      async handler({ body, principal }) {
        assertActsAs(principal, body.factoryId);
        const { factory } = await store.heartbeat({ ...body, product: principal.product });
        return {
          drain: factory.drain,
          heartbeatSec: options.heartbeatMs / 1000,
          leaseTtlSec: options.leaseTtlMs / 1000,
        };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/claim',
      summary: 'Claim the next matching job (204 when none); waitMs long-polls up to 30 s.',
      access: FLEET,
      body: ClaimBody,
      response: ClaimedJob,
      async handler({ body, principal, reply }) {
        const [claim] = await claimJobs(body, 1, principal, reply);
        return claim === undefined ? undefined : claimedJob(claim);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/claims',
      summary:
        'Claim up to maxJobs matching jobs in one call (a factory with that many free slots), each with its own lease, epoch and run, in claim order (204 when none); waitMs long-polls up to 30 s for the first.',
      access: FLEET,
      body: ClaimBatchBody,
      response: ClaimBatch,
      async handler({ body, principal, reply }) {
        const claims = await claimJobs(body, body.maxJobs, principal, reply);
        return claims.length === 0 ? undefined : { claims: claims.map(claimedJob) };
      },
    }),
    defineRoute({
      method: 'PATCH',
      url: '/api/fleet/jobs/:id',
      summary:
        'Report a stage (with checkpoint, result or error) as the factory holding the lease under its epoch; 409 when stale or another factory’s lease, 422 when illegal.',
      access: FLEET,
      params: JobParams,
      body: Report,
      response: JobView,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        const job = await store.report({ ...body, jobId: params.id, product: principal.product }, ctx.policy);
        if (job.stage === 'dead_letter') metrics.deadLetters.inc();
        return jobView(job);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/events',
      summary:
        'Record what the lease holder observed (llm.call, tool.call, verify.result, …) as job events; 409 when the epoch is stale or the lease another factory’s.',
      access: FLEET,
      params: JobParams,
      body: EventsBody,
      response: EventsAnswer,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        const { factoryId, leaseEpoch } = body;
        await store.recordEvents({ product: principal.product, jobId: params.id, leaseEpoch, factoryId }, body.events);
        countLlmCalls(body.events);
        return { recorded: body.events.length };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/events',
      summary:
        'Record the events of several runs (jobs and epochs) of this factory in one call, each upload fenced on its own: 200 with each outcome in order (recorded, or the 404/409 its own call would answer), a stale one failing alone.',
      access: FLEET,
      body: EventsBatchBody,
      response: EventsBatchAnswer,
      async handler({ body, principal }) {
        assertActsAs(principal, body.factoryId);
        const { factoryId } = body;
        // Sent together, they share one transaction and one commit on SQLite (group commit).
        const settled = await Promise.allSettled(
          body.uploads.map((upload) =>
            store.recordEvents(
              { product: principal.product, jobId: upload.jobId, leaseEpoch: upload.leaseEpoch, factoryId },
              upload.events,
            ),
          ),
        );
        const outcomes = body.uploads.map(({ jobId, leaseEpoch, events }, i) => {
          const outcome = settled[i];
          if (outcome?.status === 'fulfilled') {
            countLlmCalls(events);
            return { jobId, leaseEpoch, recorded: events.length };
          }
          const { status, body: answer } = toErrorResponse(outcome?.reason);
          // A failure that is not the upload's own (the database went away) fails the call.
          if (status >= 500) throw outcome?.reason;
          return { jobId, leaseEpoch, status, error: answer.error };
        });
        return { outcomes };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/subtasks',
      summary:
        'Split the job into 1-50 subtasks (child jobs any factory may claim), fenced by the epoch and the holder (409 when stale or another factory’s lease): the run ends and the job waits in building until its last subtask ships. 201 {children}; 200 with the same children when the same run asks again.',
      access: FLEET,
      params: JobParams,
      body: SubtasksBody,
      response: SubtasksAnswer,
      async handler({ params, body, principal, reply }) {
        assertActsAs(principal, body.factoryId);
        const { children, created } = await store.decompose({
          product: principal.product,
          jobId: params.id,
          leaseEpoch: body.leaseEpoch,
          factoryId: body.factoryId,
          subtasks: body.subtasks,
        });
        void reply.code(created ? 201 : 200);
        return reply.send({ children: children.map(jobView) });
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/agent-credential',
      summary:
        'Issue the credential the job’s agent uses for its allowedCommands (/api/agent/*; the secret answered once), good only under this lease; 409 when the epoch is stale or the lease another factory’s, 400 when the job allows no command.',
      access: FLEET,
      params: JobParams,
      body: EpochBody,
      response: AgentCredentialAnswer,
      status: 201,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        const job = await store.getJob(principal.product, params.id);
        if (job === undefined) throw new NotFoundError(`no job ${params.id} in product ${principal.product}`);
        const commands = job.spec.allowedCommands ?? [];
        if (commands.length === 0) {
          throw new ValidationError(
            `job ${job.id} allows its agent no command, so it gets no credential; submit it with allowedCommands (${AGENT_COMMANDS.join(', ')})`,
          );
        }
        const fence = {
          product: principal.product,
          jobId: job.id,
          leaseEpoch: body.leaseEpoch,
          factoryId: body.factoryId,
        };
        await store.recordEvents(fence, [{ type: 'agent.credential_issued', payload: { commands } }]);
        const token = await issueAgentCredential(store, {
          product: principal.product,
          factoryId: body.factoryId,
          grant: { jobId: job.id, leaseEpoch: body.leaseEpoch },
          now: ctx.clock.now(),
        });
        if (!commands.includes('tools')) return { token, commands };
        return { token, commands, tools: (await ctx.tools?.list()) ?? [] };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/approval',
      summary:
        'Verify passed on a job with approval: required: it waits in review, without a lease, for a person to approve or reject the checkpoint’s commit; the run ends. Fenced like a report (409); 422 for a job that does not require approval or is not in testing.',
      access: FLEET,
      params: JobParams,
      body: ApprovalBody,
      response: JobView,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        return jobView(await store.requestApproval({ ...body, jobId: params.id, product: principal.product }));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/lease/renew',
      summary: 'Extend the lease by the TTL; 409 when the epoch is stale or the lease another factory’s.',
      access: FLEET,
      params: JobParams,
      body: EpochBody,
      response: RenewAnswer,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        const expiresAt = await store.renew(
          { ...body, product: principal.product, jobId: params.id },
          options.leaseTtlMs,
        );
        return { leaseExpiresAt: iso(expiresAt) };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/lease/release',
      summary:
        'Give the job back to the queue without counting an attempt; 409 when the epoch is stale or the lease another factory’s.',
      access: FLEET,
      params: JobParams,
      body: EpochBody,
      response: JobView,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        return jobView(await store.release({ ...body, product: principal.product, jobId: params.id }));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/fleet/jobs/:id/quarantine',
      summary:
        'Attach a result produced under a lease that was lost (the factory learned of it after an outage) for human triage; the stage does not change; 409 from a factory that did not run under that epoch.',
      access: FLEET,
      params: JobParams,
      body: QuarantineBody,
      response: QuarantineView,
      status: 201,
      async handler({ params, body, principal }) {
        assertActsAs(principal, body.factoryId);
        const record = await store.quarantine({
          product: principal.product,
          jobId: params.id,
          epoch: body.leaseEpoch,
          factoryId: body.factoryId,
          reason: body.reason,
          result: body.result,
        });
        return quarantineView(record);
      },
    }),
    ...jobReadRoutes(ctx, '/api/fleet/jobs', FLEET),
  ];
}

function claimedJob(claim: Claim): ClaimedJob {
  return {
    job: jobView(claim.job),
    leaseEpoch: claim.leaseEpoch,
    leaseExpiresAt: iso(claim.leaseExpiresAt),
  };
}
