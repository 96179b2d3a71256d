/**
 * The records the API answers with: the domain records of `core/` with times as ISO-8601 strings and
 * nothing internal. Strict, so a field the coordinator sends but the contract does not name is caught
 * by the tests that parse real answers.
 */
import { z } from 'zod';
import {
  CheckpointSchema,
  FACTORY_HEALTH,
  JobErrorSchema,
  JobResultSchema,
  JobSpecSchema,
  RUN_ENDINGS,
  TRIAGE_ACTIONS,
} from '../core/job.js';
import { ACTORS, STAGES } from '../core/stages.js';
import { CAPABILITIES, FACTORY_ID, ISO_TIME, JOB_ID, LEASE_EPOCH, STAGE } from './common.js';

/** `k/n` for the k-th of the n subtasks of `parentId`; null for a job that is not a subtask. */
const POSITION = z.string().nullable();

/** A job: its columns, its spec's fields at the top level, its lease and clarifications. */
export const JobView = z.strictObject({
  id: JOB_ID,
  product: z.string(),
  title: z.string(),
  body: z.string(),
  source: z.string(),
  repo: z.string().nullable(),
  base: z.string().nullable(),
  target: z.string().nullable(),
  requiredCapabilities: z.array(z.string()),
  priority: z.int(),
  runAfter: ISO_TIME,
  attempts: z.int(),
  maxAttempts: z.int(),
  ...JobSpecSchema.shape,
  idempotencyKey: z.string().nullable(),
  stage: STAGE,
  leaseEpoch: LEASE_EPOCH,
  lease: z.strictObject({ factoryId: FACTORY_ID, epoch: LEASE_EPOCH, expiresAt: ISO_TIME }).nullable(),
  checkpoint: CheckpointSchema.nullable(),
  result: JobResultSchema.nullable(),
  error: JobErrorSchema.nullable(),
  clarifications: z.array(z.strictObject({ question: z.string(), answer: z.string(), answeredAt: ISO_TIME })),
  parentId: JOB_ID.nullable(),
  position: POSITION,
  after: z.array(z.int()),
  createdAt: ISO_TIME,
  updatedAt: ISO_TIME,
});
export type JobView = z.infer<typeof JobView>;

/** One subtask as its parent's view lists it. */
export const ChildSummary = z.strictObject({ id: JOB_ID, title: z.string(), stage: STAGE, position: POSITION });
export type ChildSummary = z.infer<typeof ChildSummary>;

/**
 * One job as `GET /api/jobs/:id` answers it: with its subtasks (empty unless it was decomposed), and,
 * while it is queued, why no factory can claim it when the fleet can tell (`core/claimable.ts`).
 */
export const JobDetailView = z.strictObject({
  ...JobView.shape,
  children: z.array(ChildSummary),
  unclaimable: z.strictObject({ reason: z.string(), missingCapabilities: z.array(z.string()) }).nullable(),
});
export type JobDetailView = z.infer<typeof JobDetailView>;

/** One lease of one job by one factory. */
export const RunView = z.strictObject({
  jobId: JOB_ID,
  epoch: LEASE_EPOCH,
  factoryId: FACTORY_ID,
  startedAt: ISO_TIME,
  endedAt: ISO_TIME.nullable(),
  outcome: z.enum([...STAGES, ...RUN_ENDINGS]).nullable(),
});
export type RunView = z.infer<typeof RunView>;

/** One entry of the event log; `seq` orders it. */
export const EventView = z.strictObject({
  seq: z.int(),
  at: ISO_TIME,
  product: z.string(),
  jobId: JOB_ID.nullable(),
  epoch: LEASE_EPOCH.nullable(),
  type: z.string(),
  actor: z.enum(ACTORS),
  payload: z.record(z.string(), z.unknown()),
});
export type EventView = z.infer<typeof EventView>;

/** A result produced under a lost lease, kept for a human to accept or discard. */
export const QuarantineView = z.strictObject({
  id: JOB_ID,
  jobId: JOB_ID,
  epoch: LEASE_EPOCH,
  factoryId: FACTORY_ID,
  reason: z.string(),
  result: JobResultSchema,
  createdAt: ISO_TIME,
  triage: z.enum(TRIAGE_ACTIONS).nullable(),
  triagedAt: ISO_TIME.nullable(),
});
export type QuarantineView = z.infer<typeof QuarantineView>;

/** A factory as the fleet view shows it, with the age of its last heartbeat. */
export const FactoryView = z.strictObject({
  id: FACTORY_ID,
  product: z.string(),
  capabilities: CAPABILITIES,
  health: z.enum(FACTORY_HEALTH),
  load: z.int(),
  slots: z.int().nullable(),
  version: z.string().nullable(),
  drain: z.boolean(),
  lost: z.boolean(),
  joinedAt: ISO_TIME,
  lastHeartbeatAt: ISO_TIME,
  heartbeatAgeMs: z.number(),
});
export type FactoryView = z.infer<typeof FactoryView>;
