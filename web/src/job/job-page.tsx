/** One job: header with stage and actions, its runs, result, skills and the live event timeline. */
import type { ReactNode } from 'react';
import { describeExpectation } from '../../../src/core/verify-check.js';
import { useConnection } from '../connection.js';
import { agentLabel, forgeIssueOf, formatDateTime, formatDuration, stageLabel } from '../format.js';
import { Link } from '../router.js';
import { ErrorBox, Loading } from '../ui.js';
import { JobActions } from './job-actions.js';
import { JobResult } from './job-result.js';
import { skillNames, Timeline } from './timeline.js';
import { useJob } from './use-job.js';

export function JobPage({ id }: { id: string }): ReactNode {
  useConnection();
  const { data, error, reload, loadEarlier } = useJob(id);
  if (data === undefined) {
    return error !== undefined ? <ErrorBox message={error} onRetry={reload} /> : <Loading what="the job" />;
  }
  const { job, runs, events, hasEarlier, quarantine } = data;
  const replayed = events.some((e) => e.type === 'llm.call' && e.payload.replay === true);
  const agent = agentLabel(job, replayed);
  const skills = [...new Set(events.filter((e) => e.type === 'skills.selected').flatMap(skillNames))];
  const issue = forgeIssueOf(job);
  return (
    <article className="job-page" data-job-id={job.id}>
      <p className="crumbs">
        <Link to="/">← Board</Link>
      </p>
      <header className="job-header">
        <h1>{job.title}</h1>
        <span className={`stage stage-${job.stage}`} data-testid="job-stage">
          {stageLabel(job.stage)}
        </span>
      </header>
      {error !== undefined && <ErrorBox message={error} onRetry={reload} />}
      <dl className="facts">
        <dt>Id</dt>
        <dd>
          <code>{job.id}</code>
        </dd>
        {agent !== undefined && (
          <>
            <dt>Agent</dt>
            <dd>{agent}</dd>
          </>
        )}
        {job.pipeline !== undefined && (
          <>
            <dt>Pipeline</dt>
            <dd>{job.pipeline}</dd>
          </>
        )}
        {job.repo !== null && (
          <>
            <dt>Repo</dt>
            <dd>
              <code>{job.repo}</code>
              {job.base !== null && ` @ ${job.base}`}
            </dd>
          </>
        )}
        {issue !== undefined && (
          <>
            <dt>Issue</dt>
            <dd data-testid="job-issue">
              {issue.url === undefined ? (
                issue.label
              ) : (
                <a href={issue.url} target="_blank" rel="noopener noreferrer">
                  {issue.label}
                </a>
              )}
            </dd>
          </>
        )}
        <dt>Ship</dt>
        <dd>{job.ship ?? 'none'}</dd>
        <dt>Attempts</dt>
        <dd>
          {job.attempts} / {job.maxAttempts}
        </dd>
        <dt>Epoch</dt>
        <dd>{job.leaseEpoch}</dd>
        {job.lease !== null && (
          <>
            <dt>Factory</dt>
            <dd>{job.lease.factoryId}</dd>
          </>
        )}
        {job.parentId !== null && (
          <>
            <dt>Subtask</dt>
            <dd>
              {job.position} of <Link to={`/jobs/${job.parentId}`}>its parent</Link>
            </dd>
          </>
        )}
        <dt>Submitted</dt>
        <dd>{formatDateTime(job.createdAt)}</dd>
        {skills.length > 0 && (
          <>
            <dt>Skills</dt>
            <dd className="skills">
              {skills.map((skill) => (
                <span key={skill} className="tag">
                  {skill}
                </span>
              ))}
            </dd>
          </>
        )}
      </dl>
      {job.error !== null && job.stage !== 'blocked' && (
        <p className="job-error" role="note">
          <strong>{job.error.code ?? 'error'}:</strong> {job.error.message}
        </p>
      )}
      {job.unclaimable !== null && (
        <p className="job-waiting" role="note" data-testid="job-unclaimable">
          <strong>Waiting:</strong> {job.unclaimable.reason}
        </p>
      )}
      <JobActions job={job} quarantine={quarantine} onDone={reload} />
      {job.children.length > 0 && (
        <section className="subtasks">
          <h3>Subtasks</h3>
          <ol>
            {job.children.map((child) => (
              <li key={child.id} data-child-id={child.id}>
                <span className="position">{child.position}</span> <Link to={`/jobs/${child.id}`}>{child.title}</Link>{' '}
                <span className={`stage stage-${child.stage}`}>{stageLabel(child.stage)}</span>
              </li>
            ))}
          </ol>
        </section>
      )}
      <div className="job-columns">
        <section>
          <h3>Timeline</h3>
          {hasEarlier && (
            <button type="button" className="load-earlier" onClick={loadEarlier}>
              Load earlier events
            </button>
          )}
          <Timeline events={events} />
        </section>
        <section>
          <h3>Result</h3>
          <JobResult job={job} />
          <h3>Runs</h3>
          {runs.length === 0 ? (
            <p className="state state-empty">Not claimed yet.</p>
          ) : (
            <table className="runs">
              <thead>
                <tr>
                  <th>epoch</th>
                  <th>factory</th>
                  <th>started</th>
                  <th>took</th>
                  <th>outcome</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((run) => (
                  <tr key={run.epoch}>
                    <td>{run.epoch}</td>
                    <td>{run.factoryId}</td>
                    <td>{formatDateTime(run.startedAt)}</td>
                    <td>
                      {run.endedAt === null
                        ? 'running'
                        : formatDuration(Date.parse(run.endedAt) - Date.parse(run.startedAt))}
                    </td>
                    <td>{run.outcome ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h3>Task</h3>
          <pre className="task-body">{job.body}</pre>
          {job.setup !== undefined && job.setup.length > 0 && (
            <>
              <h3>Setup commands</h3>
              <ul>
                {job.setup.map((command) => (
                  <li key={command}>
                    <code>{command}</code>
                  </li>
                ))}
              </ul>
            </>
          )}
          {job.verify !== undefined && job.verify.length > 0 && (
            <>
              <h3>Verify commands</h3>
              <ul>
                {job.verify.map((check, i) => (
                  <li key={i}>
                    <code>{typeof check === 'string' ? check : check.command}</code>
                    {typeof check !== 'string' && <> (expected: {describeExpectation(check)})</>}
                  </li>
                ))}
              </ul>
            </>
          )}
          {job.clarifications.length > 0 && (
            <>
              <h3>Clarifications</h3>
              {job.clarifications.map((c) => (
                <p key={c.answeredAt}>
                  <strong>Q:</strong> {c.question}
                  <br />
                  <strong>A:</strong> {c.answer}
                </p>
              ))}
            </>
          )}
        </section>
      </div>
    </article>
  );
}
