/**
 * Submit a job (`POST /api/jobs`). The API validates; each of its `error.details[].path` is shown next
 * to the field it names, anything that names no field above the form.
 */
import { type ReactNode, useState } from 'react';
import { ApiError, messageOf } from '../api/client.js';
import type { JobSubmission, JobView } from '../api/types.js';
import { useConnection } from '../connection.js';
import { navigate } from '../router.js';
import { type Field, fieldOf } from './field-of.js';

const RUNTIMES = ['builtin', 'claude-code', 'codex', 'droid', 'gemini', 'command'] as const;
const SHIP = ['none', 'branch', 'merge', 'pr'] as const;
const PIPELINES = ['solo', 'standard', 'hardened'];

interface Draft {
  title: string;
  body: string;
  repo: string;
  pipeline: string;
  runtime: string;
  model: string;
  run: string;
  verify: string;
  ship: string;
}

const EMPTY: Draft = {
  title: '',
  body: '',
  repo: '',
  pipeline: '',
  runtime: '',
  model: '',
  run: '',
  verify: '',
  ship: '',
};

function toSubmission(draft: Draft): JobSubmission {
  const submission: JobSubmission = { body: draft.body };
  if (draft.title.trim() !== '') submission.title = draft.title.trim();
  if (draft.repo.trim() !== '') submission.repo = draft.repo.trim();
  if (draft.pipeline.trim() !== '') submission.pipeline = draft.pipeline.trim();
  if (draft.ship !== '') submission.ship = draft.ship as JobSubmission['ship'] & string;
  const verify = draft.verify
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (verify.length > 0) submission.verify = verify;
  if (draft.runtime !== '' || draft.model.trim() !== '' || draft.run.trim() !== '') {
    // An unknown or missing runtime is the API's to refuse, next to the runtime field.
    const agent: Record<string, string> = { runtime: draft.runtime };
    if (draft.model.trim() !== '') agent.model = draft.model.trim();
    if (draft.run.trim() !== '') agent.run = draft.run;
    submission.agent = agent as unknown as NonNullable<JobSubmission['agent']>;
  }
  return submission;
}

export function SubmitPage(): ReactNode {
  const { api } = useConnection();
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<Field, string[]>>>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const set =
    (field: keyof Draft) =>
    (event: { target: { value: string } }): void => {
      setDraft((d) => ({ ...d, [field]: event.target.value }));
    };

  const submit = async (event: { preventDefault: () => void }): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setFormError(undefined);
    try {
      const job = await api.post<JobView>('/api/jobs', toSubmission(draft));
      navigate(`/jobs/${job.id}`);
    } catch (e) {
      if (e instanceof ApiError && e.details.length > 0) {
        const byField: Partial<Record<Field, string[]>> = {};
        const other: string[] = [];
        for (const detail of e.details) {
          const field = fieldOf(detail.path);
          if (field === undefined) other.push(`${detail.path}: ${detail.message}`);
          else byField[field] = [...(byField[field] ?? []), detail.message];
        }
        setErrors(byField);
        setFormError(other.length > 0 ? other.join('; ') : 'Some fields need fixing.');
      } else {
        setFormError(messageOf(e));
      }
    } finally {
      setBusy(false);
    }
  };

  const hint = (field: Field): ReactNode =>
    errors[field]?.map((message) => (
      <span className="field-error" role="alert" data-field={field} key={message}>
        {message}
      </span>
    ));
  const invalid = (field: Field): boolean => (errors[field]?.length ?? 0) > 0;

  return (
    <form
      className="submit-form"
      noValidate
      onSubmit={(event) => {
        void submit(event);
      }}
    >
      <h1>Submit a job</h1>
      {formError !== undefined && (
        <p className="state state-error" role="alert">
          {formError}
        </p>
      )}
      <label>
        <span>Title</span>
        <input name="title" value={draft.title} onChange={set('title')} aria-invalid={invalid('title')} />
        {hint('title')}
      </label>
      <label>
        <span>Task (Markdown)</span>
        <textarea
          name="body"
          rows={8}
          value={draft.body}
          onChange={set('body')}
          aria-invalid={invalid('body')}
          placeholder="What should the agent do?"
        />
        {hint('body')}
      </label>
      <label>
        <span>Repository</span>
        <input
          name="repo"
          value={draft.repo}
          onChange={set('repo')}
          aria-invalid={invalid('repo')}
          placeholder="path or git URL"
        />
        {hint('repo')}
      </label>
      <div className="row-fields">
        <label>
          <span>Pipeline</span>
          <input
            name="pipeline"
            list="pipelines"
            value={draft.pipeline}
            onChange={set('pipeline')}
            aria-invalid={invalid('pipeline')}
            placeholder="default"
          />
          <datalist id="pipelines">
            {PIPELINES.map((p) => (
              <option key={p} value={p} />
            ))}
          </datalist>
          {hint('pipeline')}
        </label>
        <label>
          <span>Agent runtime</span>
          <select name="runtime" value={draft.runtime} onChange={set('runtime')} aria-invalid={invalid('runtime')}>
            <option value="">factory default</option>
            {RUNTIMES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          {hint('runtime')}
        </label>
        <label>
          <span>Model</span>
          <input
            name="model"
            value={draft.model}
            onChange={set('model')}
            aria-invalid={invalid('model')}
            placeholder="default"
          />
          {hint('model')}
        </label>
      </div>
      {draft.runtime === 'command' && (
        <label>
          <span>Command</span>
          <input name="run" value={draft.run} onChange={set('run')} aria-invalid={invalid('run')} />
          {hint('run')}
        </label>
      )}
      <label>
        <span>Verify commands (one per line)</span>
        <textarea
          name="verify"
          rows={3}
          value={draft.verify}
          onChange={set('verify')}
          aria-invalid={invalid('verify')}
          placeholder="npm test"
        />
        {hint('verify')}
      </label>
      <label>
        <span>Ship</span>
        <select name="ship" value={draft.ship} onChange={set('ship')} aria-invalid={invalid('ship')}>
          <option value="">default (none)</option>
          {SHIP.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        {hint('ship')}
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'Submitting…' : 'Submit'}
      </button>
    </form>
  );
}
