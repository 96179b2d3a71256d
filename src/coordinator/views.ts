/** How domain records look on the wire: times as ISO-8601 strings, nothing internal. */
import type { ConveyorEvent, Factory, Job, Run } from '../core/job.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export type JobView = ReturnType<typeof jobView>;

export function jobView(job: Job) {
  const { spec, lease, clarifications, runAfter, createdAt, updatedAt, ...rest } = job;
  return {
    ...rest,
    ...spec,
    runAfter: iso(runAfter),
    lease: lease === null ? null : { factoryId: lease.factoryId, epoch: lease.epoch, expiresAt: iso(lease.expiresAt) },
    clarifications: clarifications.map((c) => ({ ...c, answeredAt: iso(c.answeredAt) })),
    createdAt: iso(createdAt),
    updatedAt: iso(updatedAt),
  };
}

export function runView(run: Run) {
  return { ...run, startedAt: iso(run.startedAt), endedAt: isoOrNull(run.endedAt) };
}

export function eventView(event: ConveyorEvent) {
  return { ...event, at: iso(event.at) };
}

export function factoryView(factory: Factory, now: number) {
  return {
    ...factory,
    joinedAt: iso(factory.joinedAt),
    lastHeartbeatAt: iso(factory.lastHeartbeatAt),
    heartbeatAgeMs: now - factory.lastHeartbeatAt,
  };
}
