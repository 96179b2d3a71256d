/**
 * What a job's agent may ask of Conveyor while it works (`/api/agent/*`), with the credential its
 * factory was issued for the job's lease (`POST /api/fleet/jobs/:id/agent-credential`). Each call acts
 * on the credential's job under its lease epoch: once the lease ends or moves it is refused (409).
 */
import { z } from 'zod';
import { CapabilityRequestSchema, TOOL_NAME } from '../core/capability.js';
import { AGENT_COMMANDS, type AgentCommand } from '../core/job.js';
import { SubtaskListSchema } from '../core/decomposition.js';
import { JOB_ID, LEASE_EPOCH } from './common.js';

/** `GET /api/agent/job`: the job the credential is for and what its agent may ask. */
export const AgentJobAnswer = z.strictObject({
  jobId: JOB_ID,
  leaseEpoch: LEASE_EPOCH,
  title: z.string(),
  commands: z.array(z.enum(AGENT_COMMANDS)),
});
export type AgentJobAnswer = z.infer<typeof AgentJobAnswer>;

/** `POST /api/agent/ask`: block the job with a question for a person (an answer requeues it). */
export const AskBody = z.strictObject({ question: z.string().trim().min(1).max(5000) });
export type AskBody = z.input<typeof AskBody>;

/** `POST /api/agent/progress`: a note on the job's timeline. */
export const ProgressBody = z.strictObject({ message: z.string().trim().min(1).max(2000) });
export type ProgressBody = z.input<typeof ProgressBody>;

/** `POST /api/agent/subtasks`: split the job into 1-50 child jobs. */
export const AgentSubtasksBody = z.strictObject({ subtasks: SubtaskListSchema });
export type AgentSubtasksBody = z.input<typeof AgentSubtasksBody>;

/** `POST /api/agent/request-capability`: a capability request, filed as a job linked to this one. */
export const CapabilityRequestBody = CapabilityRequestSchema;
export type CapabilityRequestBody = z.input<typeof CapabilityRequestBody>;

/**
 * A promoted tool of the coordinator's tool cache as an agent sees it (`GET /api/agent/tools`): its
 * manifest's description and JSON Schemas (`input` is what a call sends).
 */
export const PromotedToolView = z.strictObject({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  inputSchema: z.unknown(),
  outputSchema: z.unknown().optional(),
});
export type PromotedToolView = z.infer<typeof PromotedToolView>;

const isObjectSchema = (schema: unknown): schema is Record<string, unknown> & { type: 'object' } =>
  typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'object';

/**
 * A promoted tool's arguments as an object schema, which MCP and the model APIs require: an input
 * schema that is not an object's takes the input as `{input}` ({@link toolInput} unwraps it).
 */
export function objectInputSchema(tool: PromotedToolView): Record<string, unknown> & { type: 'object' } {
  return isObjectSchema(tool.inputSchema)
    ? tool.inputSchema
    : { type: 'object', properties: { input: tool.inputSchema ?? {} }, required: ['input'] };
}

/** What a model is told of a promoted tool: its manifest's description, and that it runs sandboxed. */
export const promotedDescription = (tool: PromotedToolView): string =>
  `${tool.description} (a sandboxed Conveyor tool, ${tool.name}@${tool.version})`;

/** The tool's input from arguments shaped by {@link objectInputSchema}. */
export function toolInput(tool: PromotedToolView, args: Record<string, unknown> | undefined): unknown {
  return isObjectSchema(tool.inputSchema) ? (args ?? {}) : args?.input;
}

/** A promoted tool's output schema when it is an object's (MCP's `outputSchema` must be). */
export const objectOutputSchema = (
  tool: PromotedToolView,
): (Record<string, unknown> & { type: 'object' }) | undefined =>
  isObjectSchema(tool.outputSchema) ? tool.outputSchema : undefined;

/** `GET /api/agent/tools`: the promoted tools (`tools`); empty when the coordinator keeps no tool cache. */
export const AgentToolsAnswer = z.strictObject({ tools: z.array(PromotedToolView) });
export type AgentToolsAnswer = z.infer<typeof AgentToolsAnswer>;

/**
 * `POST /api/fleet/jobs/:id/agent-credential` (the lease holder): the secret, shown once; with the
 * `tools` command, the promoted tools the agent gets (so a CLI agent's permissions can name them).
 */
export const AgentCredentialAnswer = z.strictObject({
  token: z.string(),
  commands: z.array(z.enum(AGENT_COMMANDS)),
  tools: z.array(PromotedToolView).optional(),
});
export type AgentCredentialAnswer = z.infer<typeof AgentCredentialAnswer>;

/** The tool a `POST /api/agent/tools/:name` calls. */
export const AgentToolParams = z.strictObject({
  name: z.string().max(64).regex(TOOL_NAME, 'must be a tool name such as slugify'),
});

/** `POST /api/agent/tools/:name`: the input for the tool, checked against its `inputSchema` in the sandbox. */
export const AgentToolCallBody = z.strictObject({ input: z.unknown() });
export type AgentToolCallBody = z.input<typeof AgentToolCallBody>;

/**
 * What a tool call answered: its output, or how it failed in the sandbox (`invalid_input`, `timeout`,
 * `tool_error`, …): a failed call is the tool's answer to the agent, not an HTTP error.
 */
export const AgentToolCallAnswer = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), output: z.unknown() }),
  z.strictObject({ ok: z.literal(false), error: z.strictObject({ code: z.string(), message: z.string() }) }),
]);
export type AgentToolCallAnswer = z.infer<typeof AgentToolCallAnswer>;

/** Where the `tools` command's calls go. */
export const AGENT_TOOLS_PATH = '/api/agent/tools';

/** What `ask`, `progress` and `request_capability` answer. */
export const AgentAnswer = z.strictObject({
  jobId: JOB_ID,
  /** The job's stage after the call (`blocked` after `ask`). */
  stage: z.string(),
  /** The job `request_capability` filed. */
  requestedJobId: JOB_ID.optional(),
});
export type AgentAnswer = z.infer<typeof AgentAnswer>;

/** The commands that are one tool each; `tools` is the promoted tools, each a tool of its own name. */
export type SingleToolCommand = Exclude<AgentCommand, 'tools'>;

/**
 * Each single-tool command as a job's agent sees it, whatever the runtime: its tool name (the
 * command's), what it is for, its arguments and the call behind it. `mcp/agent-tools.ts` serves them
 * to CLI agents; the builtin agent offers them as its own tools.
 */
export interface AgentCommandSpec {
  description: string;
  input: z.ZodType<Record<string, unknown>>;
  path: string;
}

export const AGENT_COMMAND_SPECS: Readonly<Record<SingleToolCommand, AgentCommandSpec>> = {
  ask: {
    description:
      'Ask the people behind this job a question you cannot answer from the repository. The job stops now (your run ends) and is queued again with their answer in your prompt. Use it only when guessing would be wrong.',
    input: AskBody.extend({ question: AskBody.shape.question.describe('The question, self-contained.') }),
    path: '/api/agent/ask',
  },
  progress: {
    description: 'Record a short note on the job’s timeline for the people following it (what you did, what is next).',
    input: ProgressBody.extend({ message: ProgressBody.shape.message.describe('One or two sentences.') }),
    path: '/api/agent/progress',
  },
  subtasks: {
    description:
      'Split this job into 1-50 subtasks that other agents run (each {title, body, after?: positions of earlier subtasks it waits for}). Your run ends; the job ships when its last subtask ships.',
    input: AgentSubtasksBody,
    path: '/api/agent/subtasks',
  },
  request_capability: {
    description:
      'Ask for a tool you lack ({name, description, inputs, outputs, constraints}): it is filed as a job that builds it, linked to this one. Answers the new job’s id; carry on without the tool.',
    input: CapabilityRequestBody,
    path: '/api/agent/request-capability',
  },
};
