/** A job's events in order, each summarised in one line, its payload a click away. */
import type { ReactNode } from 'react';
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

export function summarize(event: EventView): string {
  const p = event.payload;
  const to = str(p.to);
  const from = str(p.from);
  switch (event.type) {
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
    case 'skills.selected':
      return skillNames(event).join(', ') || 'none';
    case 'fence.rejected':
      return `epoch ${num(p.sentEpoch) ?? '?'} refused (current ${num(p.currentEpoch) ?? '?'})`;
    case 'lease.expired':
      return `lease of ${str(p.factoryId) ?? '?'} expired → ${to ?? '?'}`;
    case 'job.cancelled':
      return str(p.reason) ?? 'cancelled';
    case 'job.unblocked':
      return `answered: ${str(p.answer) ?? ''}`;
    default:
      return from !== undefined && to !== undefined ? `${from} → ${to}` : '';
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
