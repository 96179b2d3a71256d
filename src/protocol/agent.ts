/**
 * What a job's agent may ask of Conveyor while it works (`/api/agent/*`), with the credential its
 * factory was issued for the job's lease (`POST /api/fleet/jobs/:id/agent-credential`). Each call acts
 * on the credential's job under its lease epoch: once the lease ends or moves it is refused (409).
 */
import { z } from 'zod';
import { CapabilityRequestSchema } from '../core/capability.js';
import { AGENT_COMMANDS, type AgentCommand } from '../core/job.js';
import { SubtaskListSchema } from '../core/decomposition.js';
import { JOB_ID, LEASE_EPOCH } from './common.js';

/** `POST /api/fleet/jobs/:id/agent-credential` (the lease holder): the secret, shown once. */
export const AgentCredentialAnswer = z.strictObject({
  token: z.string(),
  commands: z.array(z.enum(AGENT_COMMANDS)),
});
export type AgentCredentialAnswer = z.infer<typeof AgentCredentialAnswer>;

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

/** What `ask`, `progress` and `request_capability` answer. */
export const AgentAnswer = z.strictObject({
  jobId: JOB_ID,
  /** The job's stage after the call (`blocked` after `ask`). */
  stage: z.string(),
  /** The job `request_capability` filed. */
  requestedJobId: JOB_ID.optional(),
});
export type AgentAnswer = z.infer<typeof AgentAnswer>;

/**
 * Each command as a job's agent sees it, whatever the runtime: its tool name (the command's), what it
 * is for, its arguments and the call behind it. `mcp/agent-tools.ts` serves them to CLI agents; the
 * builtin agent offers them as its own tools.
 */
export interface AgentCommandSpec {
  description: string;
  input: z.ZodType<Record<string, unknown>>;
  path: string;
}

export const AGENT_COMMAND_SPECS: Readonly<Record<AgentCommand, AgentCommandSpec>> = {
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
