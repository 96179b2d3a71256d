/** How domain records look on the wire: times as ISO-8601 strings, nothing internal. */
import { positionLabel } from '../core/decomposition.js';
import type { ConveyorEvent, Factory, Job, QuarantinedResult, Run } from '../core/job.js';
import type { Stage } from '../core/stages.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

type Iso<T, K extends keyof T> = Omit<T, K> & { [P in K]: T[P] extends number ? string : string | null };

export type JobView = Omit<
  Job,
  'spec' | 'lease' | 'clarifications' | 'runAfter' | 'createdAt' | 'updatedAt' | 'position' | 'siblings'
> &
  Job['spec'] & {
    /** `k/n` for the k-th of the n subtasks of `parentId`; null for a job that is not a subtask. */
    position: string | null;
    runAfter: string;
    lease: { factoryId: string; epoch: number; expiresAt: string } | null;
    clarifications: { question: string; answer: string; answeredAt: string }[];
    createdAt: string;
    updatedAt: string;
  };
/** One subtask as its parent's view lists it. */
export interface ChildSummary {
  id: string;
  title: string;
  stage: Stage;
  position: string | null;
}

/** One job as `GET /api/jobs/:id` answers it: with its subtasks (empty unless it was decomposed). */
export type JobDetailView = JobView & { children: ChildSummary[] };

export type RunView = Iso<Run, 'startedAt' | 'endedAt'>;
export type EventView = Iso<ConveyorEvent, 'at'>;
export type QuarantineView = Iso<QuarantinedResult, 'createdAt' | 'triagedAt'>;
export type FactoryView = Iso<Factory, 'joinedAt' | 'lastHeartbeatAt'> & { heartbeatAgeMs: number };

export function jobView(job: Job): JobView {
  const { spec, lease, clarifications, runAfter, createdAt, updatedAt, position, siblings, ...rest } = job;
  return {
    ...rest,
    ...spec,
    position: positionLabel({ position, siblings }),
    runAfter: iso(runAfter),
    lease: lease === null ? null : { factoryId: lease.factoryId, epoch: lease.epoch, expiresAt: iso(lease.expiresAt) },
    clarifications: clarifications.map((c) => ({ ...c, answeredAt: iso(c.answeredAt) })),
    createdAt: iso(createdAt),
    updatedAt: iso(updatedAt),
  };
}

export function jobDetailView(job: Job, children: readonly Job[]): JobDetailView {
  return {
    ...jobView(job),
    children: children.map((c) => ({ id: c.id, title: c.title, stage: c.stage, position: positionLabel(c) })),
  };
}

export function runView(run: Run): RunView {
  return { ...run, startedAt: iso(run.startedAt), endedAt: isoOrNull(run.endedAt) };
}

export function eventView(event: ConveyorEvent): EventView {
  return { ...event, at: iso(event.at) };
}

export function factoryView(factory: Factory, now: number): FactoryView {
  return {
    ...factory,
    joinedAt: iso(factory.joinedAt),
    lastHeartbeatAt: iso(factory.lastHeartbeatAt),
    heartbeatAgeMs: now - factory.lastHeartbeatAt,
  };
}

export function quarantineView(record: QuarantinedResult): QuarantineView {
  return { ...record, createdAt: iso(record.createdAt), triagedAt: isoOrNull(record.triagedAt) };
}
