/**
 * Conveyor's own MCP tools. Each is one declaration: its name, its input schema (built from the Zod
 * schemas of `protocol/`, so the JSON Schema a client sees is the API's contract), the schema of what
 * it answers (a `protocol/` view) and the REST call it makes.
 * `list_tools`, `promote_tool` and the promoted tools themselves act on a tool cache (`cache-tools.ts`).
 */
import { z } from 'zod';
import { CapabilityRequestSchema } from '../core/capability.js';
import { AgentSpecSchema } from '../core/job.js';
import { JOB_ID, JobParams, STAGE } from '../protocol/common.js';
import { CancelBody, JobPage, ListQuery, SubmitBody, UnblockBody } from '../protocol/jobs.js';
import { JobDetailView, JobView } from '../protocol/views.js';
import { type ConveyorApi, expectSuccess } from './api.js';

/** What MCP calls tool annotations: hints for a client deciding whether to ask the user first. */
export interface ToolHints {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ConveyorTool<I = unknown> {
  name: string;
  title: string;
  description: string;
  /** The arguments; unknown fields are refused, as the API refuses them. */
  input: z.ZodType<I>;
  /** What a success answers with (its `structuredContent`). */
  output: z.ZodType;
  hints: ToolHints;
  /** Makes the REST call; resolves with the API's answer, throws `ApiRefusal` with its message. */
  call(args: I, api: ConveyorApi): Promise<unknown>;
}

/** Erases the argument type so tools of different shapes sit in one list. */
export type AnyTool = ConveyorTool<never>;

export function defineTool<I>(tool: ConveyorTool<I>): AnyTool {
  return tool as unknown as AnyTool;
}

const jobPath = (id: string, action = ''): string => `/api/jobs/${encodeURIComponent(id)}${action}`;

/** The submission's schema with a description on the fields a client most needs to understand. */
const SubmitJobInput = SubmitBody.extend({
  body: SubmitBody.shape.body.describe('The task for the agent, in Markdown (the body of a task file). Required.'),
  title: SubmitBody.shape.title.describe('Short title; default: the first heading of the body.'),
  repo: SubmitBody.shape.repo.describe('The repository: a git URL, or a path the factories can reach.'),
  base: SubmitBody.shape.base.describe('Ref to start from; the target defaults to the same branch.'),
  capabilities: SubmitBody.shape.capabilities.describe('What the factory must have, e.g. ["node"].'),
  pipeline: SubmitBody.shape.pipeline.describe('solo | standard | hardened | a pipeline the repository defines.'),
  verify: SubmitBody.shape.verify.describe(
    'Checks that must pass before shipping, in order: a command line that must exit 0 (e.g. "npm test"), or {command, expectExit, expectOutput} to expect another exit code or text in the output.',
  ),
  setup: SubmitBody.shape.setup.describe(
    'Commands run in the fresh worktree before the agent, e.g. ["npm ci"]; default: the repository\'s .conveyor/setup.sh.',
  ),
  ship: SubmitBody.shape.ship.describe('none | branch | merge | pr.'),
  approval: SubmitBody.shape.approval.describe(
    'required: once verified, the change waits for a person to approve it before it ships. Default none.',
  ),
  idempotencyKey: SubmitBody.shape.idempotencyKey.describe(
    'Send the same key again to get the same job back instead of a second one.',
  ),
});

const ListJobsInput = z.strictObject({
  stage: z.array(STAGE).min(1).optional().describe('Only jobs in these stages.'),
  search: ListQuery.shape.q.describe('Only jobs whose title or body contains this text.'),
  parent: ListQuery.shape.parent.describe('Only the subtasks of this job.'),
  cursor: ListQuery.shape.cursor.describe('Continue after this job: the nextCursor of the previous page.'),
  limit: z.int().min(1).max(200).optional().describe('How many jobs (1-200). Default 50.'),
});

const GetJobInput = JobParams.extend({ id: JOB_ID.describe('The job id (a 26-character ULID).') });

const CancelJobInput = GetJobInput.extend(CancelBody.unwrap().shape);

const AnswerJobInput = GetJobInput.extend({
  answer: UnblockBody.shape.answer.describe('The answer to the question the blocked job asks.'),
});

const RequestCapabilityInput = CapabilityRequestSchema.extend({
  agent: AgentSpecSchema.optional().describe(
    'The agent the roles run on, e.g. {"runtime": "claude-code"}; default: the factory’s default runtime.',
  ),
});

export const CONVEYOR_TOOLS: readonly AnyTool[] = [
  defineTool({
    name: 'submit_job',
    title: 'Submit a job',
    description:
      'Hand a software task to the Conveyor fleet: a factory runs a coding agent on it, verifies the change and ships it per `ship`. Takes the fields of a task file (its front matter, and `body` for the task); `source` defaults to mcp. Answers the job; follow it with get_job or the resource conveyor://jobs/{id}.',
    input: SubmitJobInput,
    output: JobView,
    hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    async call(args, api) {
      // Where the job came from, as a task file's path or a tracker's issue says it; the caller may name another.
      return expectSuccess(await api('POST', '/api/jobs', { ...args, source: args.source ?? 'mcp' }));
    },
  }),
  defineTool({
    name: 'get_job',
    title: 'Get a job',
    description:
      'One job: its stage, result (branch, commit, pull request), error, lease, the question it is blocked on (error.message while stage is blocked) and its subtasks.',
    input: GetJobInput,
    output: JobDetailView,
    hints: { readOnlyHint: true, openWorldHint: false },
    async call(args, api) {
      return expectSuccess(await api('GET', jobPath(args.id)));
    },
  }),
  defineTool({
    name: 'list_jobs',
    title: 'List jobs',
    description:
      'Jobs of the product, newest first, filtered by stage, text and parent; page on with nextCursor. Stages: queued, assigned, building, review, testing, shipped, blocked, failed, dead_letter, cancelled, quarantined.',
    input: ListJobsInput,
    output: JobPage,
    hints: { readOnlyHint: true, openWorldHint: false },
    async call(args, api) {
      const query = new URLSearchParams();
      if (args.stage !== undefined) query.set('stage', args.stage.join(','));
      if (args.search !== undefined) query.set('q', args.search);
      if (args.parent !== undefined) query.set('parent', args.parent);
      if (args.cursor !== undefined) query.set('cursor', args.cursor);
      if (args.limit !== undefined) query.set('limit', String(args.limit));
      const suffix = query.size > 0 ? `?${query.toString()}` : '';
      return expectSuccess(await api('GET', `/api/jobs${suffix}`));
    },
  }),
  defineTool({
    name: 'cancel_job',
    title: 'Cancel a job',
    description:
      'Cancel a job that has not finished (and its unfinished subtasks). A factory working on it is stopped on its next write and ships nothing.',
    input: CancelJobInput,
    output: JobView,
    hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async call({ id, ...body }, api) {
      return expectSuccess(await api('POST', jobPath(id, '/cancel'), body));
    },
  }),
  defineTool({
    name: 'answer_job',
    title: 'Answer a blocked job',
    description:
      'Answer the question a blocked job asks (get_job shows it as error.message); the job is queued again with the answer in its prompt.',
    input: AnswerJobInput,
    output: JobView,
    hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    async call({ id, answer }, api) {
      return expectSuccess(await api('POST', jobPath(id, '/unblock'), { answer }));
    },
  }),
  defineTool({
    name: 'request_capability',
    title: 'Request a tool',
    description:
      'File a capability request as a tool job: architect, engineer, QA and red team build a sandboxed WebAssembly tool (name, description, inputs and outputs as JSON Schemas, constraints on network, storage and secrets); tests and attacks run against it decide, and shipping publishes it to the tool cache. Answers the job; follow it with get_job.',
    input: RequestCapabilityInput,
    output: JobView,
    hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    async call({ agent, ...request }, api) {
      // Loaded on use: the task parser (and YAML) would slow `conveyor mcp`'s start for one rare tool.
      const { fromCapabilityRequest } = await import('../intake/task-file.js');
      const submission = {
        ...fromCapabilityRequest(request),
        ...(agent === undefined ? {} : { agent }),
        source: 'mcp',
      };
      return expectSuccess(await api('POST', '/api/jobs', submission));
    },
  }),
];
