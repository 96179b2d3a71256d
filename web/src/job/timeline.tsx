/** A job's events in order, each summarised in one line, its payload a click away. */
import type { ReactNode } from 'react';
import type { EventType } from '../../../src/core/events.js';
import type { EventView } from '../api/types.js';
import { formatCost, formatTime, formatTokens } from '../format.js';

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

/** Names of the skills a `skills.selected` event lists (strings or `{name}`). */
export function skillNames(event: EventView): string[] {
  const skills = event.payload.skills ?? event.payload.selected;
  if (!Array.isArray(skills)) return [];
  return skills
    .map((skill: unknown) =>
      typeof skill === 'string' ? skill : str((skill as { name?: unknown } | null)?.name ?? undefined),
    )
    .filter((name): name is string => name !== undefined);
}

/** The line for a type outside the catalogue (at run time), or one shown as its stage move. */
function move(p: EventView['payload']): string {
  const to = str(p.to);
  const from = str(p.from);
  return from !== undefined && to !== undefined ? `${from} → ${to}` : '';
}

/**
 * Reached at run time by a type the catalogue does not name (a factory may send those); at compile
 * time `type` is `never`, so a type added to the catalogue breaks this file until it is handled above.
 */
function unlisted(_type: never, p: EventView['payload']): string {
  return move(p);
}

export function summarize(event: EventView): string {
  const p = event.payload;
  const to = str(p.to);
  const from = str(p.from);
  // Exhaustive over the catalogue (core/events.ts); the payloads are read defensively, as sent.
  const type = event.type as EventType;
  switch (type) {
    case 'job.created':
      return `submitted from ${str(p.source) ?? 'api'}`;
    case 'job.claimed':
      return `claimed by ${str(p.factoryId) ?? '?'}`;
    case 'stage.changed': {
      const error = (p.error as { message?: unknown } | null | undefined)?.message;
      return `${from ?? '?'} → ${to ?? '?'}${typeof error === 'string' ? `: ${error}` : ''}`;
    }
    case 'llm.call': {
      const parts = [p.replay === true ? 'replay' : (str(p.model) ?? 'model')];
      const input = num(p.inputTokens);
      const output = num(p.outputTokens);
      if (input !== undefined || output !== undefined)
        parts.push(`${formatTokens(input ?? 0)} in / ${formatTokens(output ?? 0)} out`);
      const cost = num(p.costUsd);
      if (cost !== undefined) parts.push(formatCost(cost));
      const latency = num(p.latencyMs);
      if (latency !== undefined) parts.push(`${Math.round(latency)} ms`);
      return parts.join(' · ');
    }
    case 'tool.call':
      return str(p.tool) ?? 'tool';
    case 'verify.result':
      return `${str(p.command) ?? 'verify'} → exit ${num(p.exitCode) ?? '?'}`;
    case 'setup.result':
      return `setup ${p.ok === true ? 'done' : 'failed'} in ${((num(p.durationMs) ?? 0) / 1000).toFixed(1)} s`;
    case 'skills.selected':
      return skillNames(event).join(', ') || 'none';
    case 'fence.rejected':
      return `epoch ${num(p.sentEpoch) ?? '?'} refused (current ${num(p.currentEpoch) ?? '?'})`;
    case 'lease.expired':
      return `lease of ${str(p.factoryId) ?? '?'} expired → ${to ?? '?'}`;
    case 'job.cancelled':
      return str(p.reason) ?? 'cancelled';
    case 'ship.reconciled':
      return `already shipped by an earlier run: ${str(p.commit) ?? str(p.branch) ?? '?'} (found by its ${str(p.how) ?? 'trailer'})`;
    case 'job.unblocked':
      return `answered: ${str(p.answer) ?? ''}`;
    case 'job.approval_requested':
      return `verified; awaiting approval of ${str(p.commit)?.slice(0, 12) ?? '?'}`;
    case 'job.approved':
      return `approved ${str(p.commit)?.slice(0, 12) ?? '?'}`;
    case 'job.rejected':
      return `rejected (${p.action === 'fail' ? 'failed' : 'back to the agent'}): ${str(p.reason) ?? ''}`;
    case 'agent.progress':
      return str(p.message) ?? '';
    case 'agent.command_refused':
      return `refused: ${str(p.command) ?? '?'}`;
    case 'agent.tool_called':
      return `called the tool ${str(p.name) ?? '?'}${p.ok === true ? '' : `: ${str(p.error) ?? 'failed'}`}`;
    case 'agent.capability_requested':
      return `asked for a tool: ${str(p.name) ?? '?'} → job ${str(p.requestedJobId) ?? '?'}`;
    case 'agent.credential_issued':
      return `the agent may: ${Array.isArray(p.commands) ? p.commands.join(', ') : '?'}`;
    case 'approval.commit_missing':
      return str(p.message) ?? 'the approved commit is not here: running the job again';
    case 'checkpoint.saved':
    case 'job.retry_scheduled':
    case 'lease.renewed':
    case 'lease.released':
    case 'job.retried':
    case 'job.decomposed':
    case 'job.subtasks_shipped':
    case 'job.subtask_stopped':
    case 'job.resumed':
    case 'job.quarantined':
    case 'quarantine.triaged':
    case 'factory.joined':
    case 'factory.lost':
    case 'factory.stopped':
    case 'factory.expired':
    case 'factory.draining':
    case 'factory.undrained':
    case 'agent.message':
    case 'agent.session':
    case 'sandbox.unavailable':
    case 'budget.unpriced':
    case 'model.warning':
    case 'codex.warning':
    case 'pipeline.started':
    case 'pipeline.role':
    case 'pipeline.iteration':
      return move(p);
    default:
      return unlisted(type, p);
  }
}

export function Timeline({ events }: { events: readonly EventView[] }): ReactNode {
  if (events.length === 0) return <p className="state state-empty">No events yet.</p>;
  return (
    <ol className="timeline" aria-label="timeline">
      {events.map((event) => (
        <li key={event.seq} className={`event event-${event.type.replace(/\W/g, '-')}`} data-seq={event.seq}>
          <time dateTime={event.at}>{formatTime(event.at)}</time>
          <span className="event-type">{event.type}</span>
          <span className="event-summary">{summarize(event)}</span>
          <span className="event-meta">
            {event.actor}
            {event.epoch !== null && ` · epoch ${event.epoch}`}
          </span>
          {Object.keys(event.payload).length > 0 && (
            <details>
              <summary>payload</summary>
              <pre>{JSON.stringify(event.payload, null, 2)}</pre>
            </details>
          )}
        </li>
      ))}
    </ol>
  );
}
