/** One job on the board: title, agent, factory, elapsed time and, when reported, iteration, tokens and cost. */
import { memo, type ReactNode } from 'react';
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

export interface JobCardProps {
  job: JobView;
  replayed: boolean;
  now: number;
}

export const JobCard = memo(function JobCard({ job, replayed, now }: JobCardProps): ReactNode {
  const agent = agentLabel(job, replayed);
  const usage = usageOf(job);
  const iteration = iterationOf(job);
  return (
    <Link to={`/jobs/${job.id}`} className="card" title={job.title}>
      <span className="card-title">{job.title}</span>
      <span className="card-meta">
        <span className="card-id">{shortId(job.id)}</span>
        {agent !== undefined && <span className={agent === 'replay' ? 'tag tag-replay' : 'tag'}>{agent}</span>}
        {job.lease !== null && <span className="card-factory">⚙ {job.lease.factoryId}</span>}
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
