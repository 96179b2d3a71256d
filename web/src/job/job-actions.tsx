/**
 * What a person can do to a job from its page: cancel, retry, answer a blocked job, approve or reject
 * verified work waiting for approval, triage quarantined results.
 */
import { type ReactNode, useState } from 'react';
import { isAwaitingApproval } from '../../../src/core/job.js';
import { messageOf } from '../api/client.js';
import type { JobView, QuarantineView, Stage } from '../api/types.js';
import { useConnection } from '../connection.js';

const CANCELLABLE: readonly Stage[] = ['queued', 'assigned', 'building', 'review', 'testing', 'blocked', 'quarantined'];
const RETRYABLE: readonly Stage[] = ['failed', 'dead_letter', 'cancelled', 'quarantined'];

export function JobActions(props: {
  job: JobView;
  quarantine: readonly QuarantineView[];
  onDone: () => void;
}): ReactNode {
  const { job, quarantine, onDone } = props;
  const { api } = useConnection();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [answer, setAnswer] = useState('');
  const [reason, setReason] = useState('');

  const act = async (path: string, body?: unknown): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await api.post(`/api/jobs/${job.id}/${path}`, body);
      onDone();
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  const open = quarantine.filter((q) => q.triage === null);
  return (
    <div className="actions">
      <div className="buttons">
        {CANCELLABLE.includes(job.stage) && (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              if (confirm(`Cancel “${job.title}”?`)) void act('cancel', { reason: 'cancelled from the dashboard' });
            }}
          >
            Cancel job
          </button>
        )}
        {RETRYABLE.includes(job.stage) && (
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              void act('retry');
            }}
          >
            Retry
          </button>
        )}
      </div>
      {job.stage === 'blocked' && (
        <form
          className="unblock"
          onSubmit={(event) => {
            event.preventDefault();
            void act('unblock', { answer }).then(() => {
              setAnswer('');
            });
          }}
        >
          <p className="question">
            <strong>Question:</strong> {job.error?.message ?? '(none recorded)'}
          </p>
          <label>
            <span>Answer</span>
            <textarea
              name="answer"
              required
              rows={3}
              value={answer}
              onChange={(event) => {
                setAnswer(event.target.value);
              }}
            />
          </label>
          <button type="submit" disabled={busy || answer.trim() === ''}>
            Unblock
          </button>
        </form>
      )}
      {isAwaitingApproval(job) && (
        <form
          className="approval"
          aria-label="approval"
          onSubmit={(event) => {
            event.preventDefault();
          }}
        >
          <p>
            <strong>Awaiting approval:</strong> verify passed on commit{' '}
            <code>{job.checkpoint?.approval?.commit.slice(0, 12)}</code>. Approve to ship it, or reject it with a
            reason.
          </p>
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              void act('approve');
            }}
          >
            Approve
          </button>
          <label>
            <span>Reason to reject</span>
            <textarea
              name="reason"
              rows={3}
              value={reason}
              onChange={(event) => {
                setReason(event.target.value);
              }}
            />
          </label>
          <button
            type="button"
            disabled={busy || reason.trim() === ''}
            onClick={() => {
              void act('reject', { reason, action: 'retry' }).then(() => {
                setReason('');
              });
            }}
          >
            Reject: back to the agent
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy || reason.trim() === ''}
            onClick={() => {
              void act('reject', { reason, action: 'fail' }).then(() => {
                setReason('');
              });
            }}
          >
            Reject: fail the job
          </button>
        </form>
      )}
      {open.map((record) => (
        <div className="triage" key={record.id}>
          <p>
            <strong>Quarantined result</strong> from {record.factoryId} (epoch {record.epoch}): {record.reason}
          </p>
          <details>
            <summary>result</summary>
            <pre>{JSON.stringify(record.result, null, 2)}</pre>
          </details>
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              void act('triage', { quarantineId: record.id, action: 'accept' });
            }}
          >
            Accept
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              void act('triage', { quarantineId: record.id, action: 'discard' });
            }}
          >
            Discard
          </button>
        </div>
      ))}
      {quarantine
        .filter((q) => q.triage !== null)
        .map((record) => (
          <p key={record.id} className="triaged">
            Quarantined result from {record.factoryId} (epoch {record.epoch}): {record.triage}
          </p>
        ))}
      {error !== undefined && (
        <p className="state state-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
