/**
 * The fleet protocol (DESIGN §4): what a factory sends and what the coordinator answers for heartbeat,
 * claim, report, events, subtasks, renew, release and quarantine. Request types are what a client
 * sends (`z.input`), answer types what it receives. Every write under a lease names the writing factory
 * (`factoryId`) besides the epoch: only the factory holding the lease may write.
 */
import { z } from 'zod';
import { SubtaskListSchema } from '../core/decomposition.js';
import { FactoryEventSchema } from '../core/events.js';
import { FACTORY_HEALTH, FactoryCheckpointSchema, JobErrorSchema, JobResultSchema } from '../core/job.js';
import { CAPABILITIES, ErrorAnswer, FACTORY_ID, ISO_TIME, JOB_ID, LEASE_EPOCH, STAGE } from './common.js';
import { JobView } from './views.js';

/** The longest a claim may park waiting for a job. */
export const MAX_CLAIM_WAIT_MS = 30_000;

/** `POST /api/fleet/factories/heartbeat`: registers the factory (first call) or refreshes it. */
export const Heartbeat = z.strictObject({
  factoryId: FACTORY_ID,
  capabilities: CAPABILITIES,
  health: z.enum(FACTORY_HEALTH),
  load: z.int().min(0).max(10_000),
  slots: z.int().min(1).max(10_000).optional(),
  version: z.string().min(1).max(100).optional(),
});
export type Heartbeat = z.input<typeof Heartbeat>;

export const HeartbeatAnswer = z.strictObject({
  drain: z.boolean(),
  heartbeatSec: z.number(),
  leaseTtlSec: z.number(),
});
export type HeartbeatAnswer = z.infer<typeof HeartbeatAnswer>;

/** `POST /api/fleet/claim`: the next matching job; `waitMs` long-polls. */
export const ClaimBody = z.strictObject({
  factoryId: FACTORY_ID,
  capabilities: CAPABILITIES,
  waitMs: z.int().min(0).max(MAX_CLAIM_WAIT_MS).optional(),
});
export type ClaimBody = z.input<typeof ClaimBody>;

/** A claim's answer (204 when there is nothing to do). */
export const ClaimedJob = z.strictObject({ job: JobView, leaseEpoch: LEASE_EPOCH, leaseExpiresAt: ISO_TIME });
export type ClaimedJob = z.infer<typeof ClaimedJob>;

/** The most jobs one batch claim may take. */
export const MAX_CLAIM_JOBS = 100;

/**
 * `POST /api/fleet/claims`: up to `maxJobs` jobs in one call, for a factory with that many free slots;
 * `waitMs` long-polls until at least one is claimable.
 */
export const ClaimBatchBody = ClaimBody.extend({ maxJobs: z.int().min(1).max(MAX_CLAIM_JOBS) });
export type ClaimBatchBody = z.input<typeof ClaimBatchBody>;

/** 1 to `maxJobs` jobs in claim order, each with its own lease and epoch (204 when there is nothing to do). */
export const ClaimBatch = z.strictObject({ claims: z.array(ClaimedJob).min(1).max(MAX_CLAIM_JOBS) });
export type ClaimBatch = z.infer<typeof ClaimBatch>;

/** `PATCH /api/fleet/jobs/:id`: a stage under the lease epoch, with a checkpoint, result or error; answers the job. */
export const Report = z.strictObject({
  factoryId: FACTORY_ID,
  stage: STAGE,
  leaseEpoch: LEASE_EPOCH,
  checkpoint: FactoryCheckpointSchema.optional(),
  result: JobResultSchema.optional(),
  error: JobErrorSchema.optional(),
});
export type Report = z.input<typeof Report>;

/**
 * `POST /api/fleet/jobs/:id/approval`: verify passed on a job with `approval: required`; the checkpoint's
 * `wipCommit` is the verified work a person is asked to approve. The run ends; answers the job.
 */
export const ApprovalBody = z.strictObject({
  factoryId: FACTORY_ID,
  leaseEpoch: LEASE_EPOCH,
  checkpoint: FactoryCheckpointSchema,
  result: JobResultSchema.optional(),
});
export type ApprovalBody = z.input<typeof ApprovalBody>;

/** Renew and release: the factory and the epoch it holds. */
export const EpochBody = z.strictObject({ factoryId: FACTORY_ID, leaseEpoch: LEASE_EPOCH });
export type EpochBody = z.input<typeof EpochBody>;

export const RenewAnswer = z.strictObject({ leaseExpiresAt: ISO_TIME });
export type RenewAnswer = z.infer<typeof RenewAnswer>;

/** `POST /api/fleet/jobs/:id/events`: what the lease holder observed, recorded as job events. */
export const EventsBody = z.strictObject({
  factoryId: FACTORY_ID,
  leaseEpoch: LEASE_EPOCH,
  events: z.array(FactoryEventSchema).min(1).max(500),
});
export type EventsBody = z.input<typeof EventsBody>;

export const EventsAnswer = z.strictObject({ recorded: z.int() });
export type EventsAnswer = z.infer<typeof EventsAnswer>;

/** The most runs one batched upload may carry. */
export const MAX_EVENT_UPLOADS = 100;

/** One run's share of a batched upload: its job, the epoch it holds, and what it observed. */
export const EventUpload = z.strictObject({
  jobId: JOB_ID,
  leaseEpoch: LEASE_EPOCH,
  events: z.array(FactoryEventSchema).min(1).max(500),
});
export type EventUpload = z.input<typeof EventUpload>;

/**
 * `POST /api/fleet/events`: the events of several runs (jobs and epochs) of one factory in one call.
 * Each upload is fenced on its own, exactly as `POST /api/fleet/jobs/:id/events`: a stale one is refused
 * (and leaves its `fence.rejected` event) without failing the others.
 */
export const EventsBatchBody = z.strictObject({
  factoryId: FACTORY_ID,
  uploads: z.array(EventUpload).min(1).max(MAX_EVENT_UPLOADS),
});
export type EventsBatchBody = z.input<typeof EventsBatchBody>;

/** Each upload's outcome, in the order sent: recorded, or the error its own call would have answered. */
export const EventUploadOutcome = z.union([
  z.strictObject({ jobId: JOB_ID, leaseEpoch: LEASE_EPOCH, recorded: z.int() }),
  z.strictObject({ jobId: JOB_ID, leaseEpoch: LEASE_EPOCH, status: z.int(), error: ErrorAnswer.shape.error }),
]);
export type EventUploadOutcome = z.infer<typeof EventUploadOutcome>;

export const EventsBatchAnswer = z.strictObject({ outcomes: z.array(EventUploadOutcome) });
export type EventsBatchAnswer = z.infer<typeof EventsBatchAnswer>;

/** `POST /api/fleet/jobs/:id/subtasks`: 1-50 subtasks; `after` names earlier positions (1-based) only. */
export const SubtasksBody = z.strictObject({
  factoryId: FACTORY_ID,
  leaseEpoch: LEASE_EPOCH,
  subtasks: SubtaskListSchema,
});
export type SubtasksBody = z.input<typeof SubtasksBody>;

export const SubtasksAnswer = z.strictObject({ children: z.array(JobView) });
export type SubtasksAnswer = z.infer<typeof SubtasksAnswer>;

/** `POST /api/fleet/jobs/:id/quarantine`: a result produced under a lost lease (by this factory), for human triage. */
export const QuarantineBody = z.strictObject({
  factoryId: FACTORY_ID,
  leaseEpoch: LEASE_EPOCH,
  reason: z.string().min(1).max(2000),
  result: JobResultSchema,
});
export type QuarantineBody = z.input<typeof QuarantineBody>;
