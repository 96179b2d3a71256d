/**
 * Agents talk back (`/api/agent/*`): what a job's agent may ask of Conveyor while it works, with the
 * credential its factory was issued for the job's lease (`agent-credential` in `fleet.ts`). Every call
 * acts on that job as the lease holder under that epoch, through the store's fenced writes: once the
 * lease ends or moves, the credential only gets 409. A command the job's `allowedCommands` do not name
 * is refused (403) and recorded (`agent.command_refused`).
 */
import { ForbiddenError, NotFoundError } from '../../core/errors.js';
import { type AgentCommand, type Job } from '../../core/job.js';
import { fromCapabilityRequest } from '../../intake/task-file.js';
import {
  AGENT_TOOLS_PATH,
  AgentAnswer,
  AgentJobAnswer,
  AgentToolCallAnswer,
  AgentToolCallBody,
  AgentToolParams,
  AgentToolsAnswer,
  AgentSubtasksBody,
  AskBody,
  CapabilityRequestBody,
  ProgressBody,
} from '../../protocol/agent.js';
import { SubtasksAnswer } from '../../protocol/fleet.js';
import type { LeaseFence } from '../../store/store.js';
import type { Principal } from '../auth.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute } from '../route.js';
import { toNewJob } from '../submission.js';
import { jobView } from '../views.js';

const AGENT = ['agent'] as const;

export function agentRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const { store, options } = ctx;

  /** The job and lease the credential is for (an agent token always names both). */
  function fenceOf(principal: Principal): LeaseFence {
    const { grant, factoryId } = principal.token;
    if (grant === null || factoryId === null) throw new ForbiddenError('this token is not a job’s agent credential');
    return { product: principal.product, jobId: grant.jobId, leaseEpoch: grant.leaseEpoch, factoryId };
  }

  async function jobOf(fence: LeaseFence): Promise<Job> {
    const job = await store.getJob(fence.product, fence.jobId);
    if (job === undefined) throw new NotFoundError(`no job ${fence.jobId} in product ${fence.product}`);
    return job;
  }

  /**
   * The job, once `command` is known to be allowed and the lease current (409 otherwise); a command
   * not allowed is recorded on the job's timeline, then refused.
   */
  async function allowed(principal: Principal, command: AgentCommand): Promise<{ fence: LeaseFence; job: Job }> {
    const fence = fenceOf(principal);
    const job = await jobOf(fence);
    const commands = job.spec.allowedCommands ?? [];
    if (!commands.includes(command)) {
      const reason = `job ${job.id} allows its agent ${commands.length === 0 ? 'no command' : commands.join(', ')}; ${command} is not one of them (allowedCommands in the job)`;
      await store.recordEvents(fence, [{ type: 'agent.command_refused', payload: { command, reason } }]);
      throw new ForbiddenError(reason);
    }
    // A fenced write of nothing: 409 unless the credential's lease is the job's current one.
    await store.recordEvents(fence, []);
    return { fence, job };
  }

  return [
    defineRoute({
      method: 'GET',
      url: '/api/agent/job',
      summary: 'The job an agent credential is for and the commands its agent may use; 409 once its lease ended.',
      access: AGENT,
      response: AgentJobAnswer,
      async handler({ principal }) {
        const fence = fenceOf(principal);
        await store.recordEvents(fence, []);
        const job = await jobOf(fence);
        return {
          jobId: job.id,
          leaseEpoch: fence.leaseEpoch,
          title: job.title,
          commands: job.spec.allowedCommands ?? [],
        };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/agent/ask',
      summary:
        'ask: block the job with a question for a person (its run ends; an answer, as unblock, requeues it). 403 when not allowed, 409 once the lease ended.',
      access: AGENT,
      body: AskBody,
      response: AgentAnswer,
      async handler({ principal, body }) {
        const { fence } = await allowed(principal, 'ask');
        const job = await store.report(
          {
            ...fence,
            stage: 'blocked',
            error: { code: 'needs_clarification', message: body.question, retryable: false },
          },
          ctx.policy,
        );
        return { jobId: job.id, stage: job.stage };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/agent/progress',
      summary:
        'progress: record a note on the job’s timeline (agent.progress). 403 when not allowed, 409 once the lease ended.',
      access: AGENT,
      body: ProgressBody,
      response: AgentAnswer,
      async handler({ principal, body }) {
        const { fence, job } = await allowed(principal, 'progress');
        await store.recordEvents(fence, [{ type: 'agent.progress', payload: { message: body.message } }]);
        return { jobId: job.id, stage: job.stage };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/agent/subtasks',
      summary:
        'subtasks: split the job into 1-50 child jobs, as the lease holder would (its run ends). 403 when not allowed, 409 once the lease ended.',
      access: AGENT,
      body: AgentSubtasksBody,
      response: SubtasksAnswer,
      async handler({ principal, body, reply }) {
        const { fence } = await allowed(principal, 'subtasks');
        const { children, created } = await store.decompose({ ...fence, subtasks: body.subtasks });
        void reply.code(created ? 201 : 200);
        return reply.send({ children: children.map(jobView) });
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/agent/request-capability',
      summary:
        'request_capability: file a capability request as a job in the same repository, linked to this one (agent.capability_requested). 403 when not allowed, 409 once the lease ended.',
      access: AGENT,
      body: CapabilityRequestBody,
      response: AgentAnswer,
      status: 201,
      async handler({ principal, body }) {
        const { fence, job } = await allowed(principal, 'request_capability');
        const request = fromCapabilityRequest(body);
        const { job: filed } = await store.submit(
          toNewJob(
            {
              ...request,
              ...(job.repo === null ? {} : { repo: job.repo }),
              ...(job.base === null ? {} : { base: job.base }),
              ...(job.spec.agent === undefined ? {} : { agent: job.spec.agent }),
              capabilities: job.requiredCapabilities,
              metadata: { ...request.metadata, requestedBy: job.id },
            },
            {
              product: fence.product,
              source: `agent:${job.id}`,
              defaultMaxAttempts: options.maxAttempts,
              // The same request from the same run files one job, however often the agent repeats it.
              idempotencyKey: `capability:${job.id}:${String(fence.leaseEpoch)}:${body.name}`,
            },
          ),
        );
        await store.recordEvents(fence, [
          { type: 'agent.capability_requested', payload: { name: body.name, requestedJobId: filed.id } },
        ]);
        return { jobId: job.id, stage: job.stage, requestedJobId: filed.id };
      },
    }),
    defineRoute({
      method: 'GET',
      url: AGENT_TOOLS_PATH,
      summary:
        'tools: the promoted tools of the coordinator’s tool cache (name, version, description, JSON Schemas); empty when it keeps none. 403 when not allowed, 409 once the lease ended.',
      access: AGENT,
      response: AgentToolsAnswer,
      async handler({ principal }) {
        await allowed(principal, 'tools');
        return { tools: (await ctx.tools?.list()) ?? [] };
      },
    }),
    defineRoute({
      method: 'POST',
      url: `${AGENT_TOOLS_PATH}/:name`,
      summary:
        'tools: call a promoted tool with {input}, run in the coordinator’s tool sandbox (agent.tool_called); a failed call answers {ok: false, error: {code, message}}. 404 for a tool not promoted, 403 when not allowed, 409 once the lease ended.',
      access: AGENT,
      params: AgentToolParams,
      body: AgentToolCallBody,
      response: AgentToolCallAnswer,
      async handler({ principal, params, body }) {
        const { fence } = await allowed(principal, 'tools');
        const answer = await (await ctx.tools?.promoted())?.call(params.name, body.input);
        if (answer === undefined) {
          throw new NotFoundError(
            `no promoted tool ${params.name} on this coordinator; GET ${AGENT_TOOLS_PATH} lists the ones there are`,
          );
        }
        await store.recordEvents(fence, [
          {
            type: 'agent.tool_called',
            payload: { name: params.name, ok: answer.ok, ...(answer.ok ? {} : { error: answer.error.code }) },
          },
        ]);
        return answer;
      },
    }),
  ];
}
