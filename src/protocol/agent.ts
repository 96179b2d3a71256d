/**
 * What a job's agent may ask of Conveyor while it works (`/api/agent/*`), with the credential its
 * factory was issued for the job's lease (`POST /api/fleet/jobs/:id/agent-credential`). Each call acts
 * on the credential's job under its lease epoch: once the lease ends or moves it is refused (409).
 */
import { z } from 'zod';
import { CapabilityRequestSchema } from '../core/capability.js';
import { AGENT_COMMANDS } from '../core/job.js';
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
