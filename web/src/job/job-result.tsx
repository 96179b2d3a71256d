/** What a job produced: summary, the diff (files, size, the patch), the shipped commit, verify output tails, anything else as JSON. */
import type { ReactNode } from 'react';
import type { JobView } from '../api/types.js';
import { formatCost, formatTokens } from '../format.js';

type Dict = Record<string, unknown>;
const dict = (value: unknown): Dict | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Dict) : undefined;
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

interface VerifyRun {
  command: string;
  exitCode: number | null | undefined;
  timedOut: boolean;
  durationMs: number | undefined;
  outputTail: string | undefined;
  /** Whether it met its expectation (recorded since checks may expect more than exit 0). */
  passed: boolean;
  expected: string | undefined;
}

function verifyRuns(value: unknown): VerifyRun[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    const run = dict(item);
    if (run === undefined) return [];
    return [
      {
        command: str(run.command) ?? '?',
        exitCode: num(run.exitCode) ?? (run.exitCode === null ? null : undefined),
        passed: typeof run.passed === 'boolean' ? run.passed : run.exitCode === 0,
        expected: str(run.expected),
        timedOut: run.timedOut === true,
        durationMs: num(run.durationMs),
        outputTail: str(run.outputTail),
      },
    ];
  });
}

/** How a line of a unified diff is shown: added, removed, a hunk header, a file header, or context. */
function diffLineClass(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ')) return 'diff-file';
  if (line.startsWith('@@')) return 'diff-hunk';
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-del';
  return 'diff-context';
}

function DiffStats({ value }: { value: Dict }): ReactNode {
  const patch = str(value.patch);
  const files = Array.isArray(value.files)
    ? (value.files as unknown[]).filter((f): f is string => typeof f === 'string')
    : [];
  const count = num(value.filesChanged) ?? (files.length > 0 ? files.length : undefined);
  const parts = [
    count === undefined ? undefined : `${count} file${count === 1 ? '' : 's'}`,
    num(value.insertions) === undefined ? undefined : `+${num(value.insertions)}`,
    num(value.deletions) === undefined ? undefined : `−${num(value.deletions)}`,
    num(value.bytes) === undefined ? undefined : `${num(value.bytes)} bytes`,
  ].filter((p) => p !== undefined);
  return (
    <div className="result-block">
      <h4>Diff</h4>
      <p>{parts.join(' · ')}</p>
      {files.length > 0 && (
        <ul className="files">
          {files.slice(0, 50).map((file) => (
            <li key={file}>
              <code>{file}</code>
            </li>
          ))}
          {files.length > 50 && <li>… {files.length - 50} more</li>}
        </ul>
      )}
      {patch !== undefined && patch !== '' && (
        <details className="patch" open={patch.length < 20_000}>
          <summary>Patch{value.truncated === true ? ' (the first 64 KiB)' : ''}</summary>
          <pre className="diff">
            {patch.split('\n').map((line, i) => (
              <span key={i} className={diffLineClass(line)}>
                {line}
                {'\n'}
              </span>
            ))}
          </pre>
        </details>
      )}
    </div>
  );
}

const SHOWN = new Set(['summary', 'verify', 'ship', 'diff', 'diffStats', 'usage', 'checkpoint']);

export function JobResult({ job }: { job: JobView }): ReactNode {
  const result = job.result;
  if (result === null) return <p className="state state-empty">No result yet.</p>;
  const summary = str(result.summary);
  const ship = dict(result.ship);
  const diff = dict(result.diff) ?? dict(result.diffStats);
  const usage = dict(result.usage);
  const verify = verifyRuns(result.verify);
  const rest = Object.fromEntries(Object.entries(result).filter(([key]) => !SHOWN.has(key)));
  return (
    <div className="result">
      {summary !== undefined && <p className="summary">{summary}</p>}
      {ship !== undefined && (
        <div className="result-block">
          <h4>Ship</h4>
          <p>
            {str(ship.policy) ?? '?'}
            {str(ship.branch) !== undefined && (
              <>
                {' '}
                → <code>{str(ship.branch)}</code>
              </>
            )}
            {str(ship.commit) !== undefined && (
              <>
                {' '}
                at <code className="commit">{str(ship.commit)?.slice(0, 12)}</code>
              </>
            )}
            {ship.alreadyShipped === true && ' (already shipped)'}
            {ship.empty === true && ' (no changes)'}
          </p>
          {str(ship.pullRequestUrl) !== undefined && (
            <a href={str(ship.pullRequestUrl)} rel="noreferrer noopener" target="_blank">
              pull request
            </a>
          )}
        </div>
      )}
      {diff !== undefined && <DiffStats value={diff} />}
      {usage !== undefined && (
        <div className="result-block">
          <h4>Usage</h4>
          <p>
            {[
              num(usage.llmCalls) === undefined ? undefined : `${num(usage.llmCalls)} calls`,
              num(usage.inputTokens) === undefined ? undefined : `${formatTokens(num(usage.inputTokens) ?? 0)} in`,
              num(usage.outputTokens) === undefined ? undefined : `${formatTokens(num(usage.outputTokens) ?? 0)} out`,
              num(usage.costUsd) === undefined ? undefined : formatCost(num(usage.costUsd) ?? 0),
            ]
              .filter((p) => p !== undefined)
              .join(' · ')}
          </p>
        </div>
      )}
      {verify.length > 0 && (
        <div className="result-block">
          <h4>Verify</h4>
          {verify.map((run, i) => (
            <details key={`${run.command}-${i}`} open={!run.passed}>
              <summary>
                <code>{run.command}</code>{' '}
                <span className={run.passed ? 'ok' : 'bad'}>
                  {run.timedOut ? 'timed out' : `exit ${String(run.exitCode ?? '?')}`}
                </span>
                {run.expected !== undefined && ` · expected ${run.expected}`}
                {run.durationMs !== undefined && ` · ${(run.durationMs / 1000).toFixed(1)} s`}
              </summary>
              {run.outputTail !== undefined && run.outputTail !== '' && <pre className="tail">{run.outputTail}</pre>}
            </details>
          ))}
        </div>
      )}
      {Object.keys(rest).length > 0 && (
        <details className="result-block">
          <summary>More</summary>
          <pre>{JSON.stringify(rest, null, 2)}</pre>
        </details>
      )}
    </div>
  );
}
