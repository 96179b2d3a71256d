/**
 * One job on the board: title, agent, factory, elapsed time and, when reported, iteration, tokens and
 * cost; a failed or dead-lettered job its error (the whole of it in the tooltip).
 */
import { memo, type ReactNode } from 'react';
import { isAwaitingApproval } from '../../../src/core/job.js';
import type { JobView } from '../api/types.js';
import {
  agentLabel,
  elapsedMs,
  formatCost,
  formatDuration,
  formatTokens,
  iterationOf,
  shortId,
  usageOf,
} from '../format.js';
import { Link } from '../router.js';

/** The stages whose card shows the job's last error. */
const ERROR_STAGES: readonly JobView['stage'][] = ['failed', 'dead_letter'];
/** Longer errors are cut here (and by the card's width); the tooltip has all of it. */
const ERROR_CHARS = 200;

/** `code: message`, or the message alone. */
function errorText(error: NonNullable<JobView['error']>): string {
  return error.code === undefined ? error.message : `${error.code}: ${error.message}`;
}

export interface JobCardProps {
  job: JobView;
  replayed: boolean;
  now: number;
}

export const JobCard = memo(function JobCard({ job, replayed, now }: JobCardProps): ReactNode {
  const agent = agentLabel(job, replayed);
  const usage = usageOf(job);
  const iteration = iterationOf(job);
  const error = job.error !== null && ERROR_STAGES.includes(job.stage) ? errorText(job.error) : undefined;
  return (
    <Link to={`/jobs/${job.id}`} className={error === undefined ? 'card' : 'card card-failed'} title={job.title}>
      <span className="card-title">{job.title}</span>
      {error !== undefined && (
        <span className="card-error" title={error}>
          {error.length > ERROR_CHARS ? `${error.slice(0, ERROR_CHARS)}…` : error}
        </span>
      )}
      <span className="card-meta">
        <span className="card-id">{shortId(job.id)}</span>
        {agent !== undefined && <span className={agent === 'replay' ? 'tag tag-replay' : 'tag'}>{agent}</span>}
        {job.lease !== null && <span className="card-factory">⚙ {job.lease.factoryId}</span>}
        {isAwaitingApproval(job) && <span className="tag tag-approval">awaiting approval</span>}
      </span>
      <span className="card-figures">
        <span title="elapsed since submitted">{formatDuration(elapsedMs(job, now))}</span>
        {iteration !== undefined && <span title="iteration">iter {iteration}</span>}
        {job.attempts > 0 && (
          <span title="attempts">
            try {job.attempts}/{job.maxAttempts}
          </span>
        )}
        {usage.tokens !== undefined && <span title="tokens">{formatTokens(usage.tokens)} tok</span>}
        {usage.costUsd !== undefined && <span title="cost">{formatCost(usage.costUsd)}</span>}
      </span>
    </Link>
  );
});
