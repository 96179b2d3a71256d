/**
 * What the report-back writes on an issue, from a job and its events (pure, so writing it twice writes
 * the same text): the one status comment, edited in place (the stage, the architect's plan, QA's
 * verdict, verify, usage, the outcome, a link to the job, and the history of its moves), and the
 * question of a blocked job. Each carries a hidden marker, so a comment made just before a crash is
 * found again instead of made twice. Text from the job (a model's plan, a question, an error) is
 * clipped and defused: no HTML comment (a forged marker), no mention.
 */
import type { BoardPosition } from '../config/forges.js';
import { asArray, asNumber, asRecord, asString } from '../core/json.js';
import type { ConveyorEvent, Job } from '../core/job.js';
import type { Stage } from '../core/stages.js';

/** The hidden marker of a job's status comment. */
export function statusMarker(jobId: string): string {
  return `<!-- conveyor:job:${jobId} -->`;
}

/** The hidden marker of the question the job's blocking event `seq` asked. */
export function questionMarker(jobId: string, seq: number): string {
  return `<!-- conveyor:question:${jobId}:${String(seq)} -->`;
}

/** The label a job in `stage` gives its issue. */
export function stageLabel(stage: Stage): string {
  return `conveyor:${stage}`;
}

/** Where the job stands on a Projects v2 board: its stage, or `pull_request` once shipped as one. */
export function boardPosition(job: Job): BoardPosition {
  const pull = asRecord(asRecord(job.result?.ship)?.pullRequest);
  return job.stage === 'shipped' && pull !== undefined ? 'pull_request' : job.stage;
}

const CLIP = 1500;

/** Text from a job as inert Markdown on one paragraph: no HTML comment, no mention, clipped. */
function defuse(text: string, max = CLIP): string {
  const clipped = text.length > max ? `${text.slice(0, max)}…` : text;
  return clipped
    .replace(/<!--/g, '&lt;!--')
    .replace(/-->/g, '--&gt;')
    .replace(/@(?=[A-Za-z0-9-])/g, '@\u200b');
}

/** As a Markdown quote (a multi-line text stays one block). */
function quote(text: string): string {
  return defuse(text)
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
}

const HEADLINES: Record<Stage, string> = {
  queued: 'queued, waiting for a factory',
  assigned: 'claimed by a factory',
  building: 'building',
  review: 'in review',
  testing: 'testing (verify)',
  shipped: 'shipped',
  blocked: 'blocked: it needs an answer (see the question below)',
  failed: 'failed',
  dead_letter: 'failed for good (dead-lettered)',
  cancelled: 'cancelled',
  quarantined: 'quarantined: a result produced after its lease was lost waits for a person',
};

/** One line of the history for an event that moved the job, or undefined for the others. */
function historyLine(event: ConveyorEvent): string | undefined {
  const p = event.payload;
  const to = asString(p.to);
  const errorMessage = asString(asRecord(p.error)?.message);
  switch (event.type) {
    case 'job.created':
      return 'queued';
    case 'job.claimed':
      return `claimed by factory \`${defuse(asString(p.factoryId) ?? '?', 100)}\``;
    case 'stage.changed':
      if (to === 'failed' && errorMessage !== undefined) return `failed: ${defuse(errorMessage, 300)}`;
      return to;
    case 'lease.expired':
      return to === 'dead_letter'
        ? 'stalled: the factory stopped answering, and no attempt is left'
        : 'stalled: the factory stopped answering; retrying on another factory';
    case 'lease.released':
      return 'given back by a draining factory; queued again';
    case 'job.retry_scheduled':
      return to === 'dead_letter'
        ? `no attempt left (${String(asNumber(p.attempts) ?? '?')} of ${String(asNumber(p.maxAttempts) ?? '?')})`
        : `retrying (attempt ${String(asNumber(p.attempts) ?? '?')} of ${String(asNumber(p.maxAttempts) ?? '?')} failed)`;
    case 'job.retried':
      return 'retried by a person';
    case 'job.unblocked':
      return 'answered; queued again';
    case 'job.cancelled':
      return 'cancelled';
    case 'job.approval_requested':
      return 'waiting for approval';
    case 'job.approved':
      return 'approved';
    case 'job.rejected':
      return 'rejected';
    case 'job.quarantined':
      return 'quarantined';
    case 'job.decomposed':
      return `split into ${String(asArray(p.children).length)} subtasks; waiting for them`;
    case 'job.subtasks_shipped':
      return 'every subtask shipped';
    case 'job.subtask_stopped':
      return `a subtask stopped (${defuse(asString(asRecord(p.child)?.stage) ?? '?', 50)}): ${defuse(errorMessage ?? '', 300)}`;
    case 'job.resumed':
      return 'resumed';
    case 'ship.reconciled':
      return 'found already shipped by an earlier run';
    default:
      return undefined;
  }
}

/** The last event of `type` whose payload passes `where`. */
function last(
  events: readonly ConveyorEvent[],
  type: string,
  where: (payload: Record<string, unknown>) => boolean = () => true,
): ConveyorEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (event !== undefined && event.type === type && where(event.payload)) return event;
  }
  return undefined;
}

function details(job: Job, events: readonly ConveyorEvent[]): string[] {
  const lines: string[] = [];
  const plan = last(events, 'pipeline.role', (p) => p.role === 'architect');
  if (plan !== undefined) lines.push(`**Plan** (architect):`, quote(asString(plan.payload.summary) ?? ''), '');
  const qa = last(events, 'pipeline.role', (p) => p.role === 'qa' || p.role === 'red-team');
  if (qa !== undefined) {
    const tickets = asArray(qa.payload.tickets)
      .map((t) => asString(asRecord(t)?.title))
      .filter((t): t is string => t !== undefined);
    lines.push(
      `**${defuse(asString(qa.payload.role) ?? 'qa', 50)}**: ${defuse(asString(qa.payload.status) ?? '?', 50)}${
        tickets.length === 0 ? '' : ` (${String(tickets.length)} ticket${tickets.length === 1 ? '' : 's'})`
      }`,
      ...tickets.slice(0, 10).map((t) => `- ${defuse(t, 200)}`),
      '',
    );
  }
  // The verify checks of the latest run that ran any.
  const lastVerify = last(events, 'verify.result');
  if (lastVerify !== undefined) {
    lines.push('**Verify**:');
    for (const check of events.filter((e) => e.type === 'verify.result' && e.epoch === lastVerify.epoch)) {
      const passed = check.payload.passed ?? check.payload.exitCode === 0;
      lines.push(
        `- \`${defuse(asString(check.payload.command) ?? '?', 200)}\`: ${passed === true ? 'passed' : 'failed'}`,
      );
    }
    lines.push('');
  }
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd = 0;
  let calls = 0;
  for (const call of events.filter((e) => e.type === 'llm.call')) {
    calls++;
    inputTokens += asNumber(call.payload.inputTokens) ?? 0;
    outputTokens += asNumber(call.payload.outputTokens) ?? 0;
    costUsd += asNumber(call.payload.costUsd) ?? 0;
  }
  if (calls > 0) {
    lines.push(
      `**Usage**: ${String(calls)} model call${calls === 1 ? '' : 's'}, ${String(inputTokens)} tokens in, ${String(outputTokens)} out${
        costUsd > 0 ? `, $${costUsd.toFixed(4)}` : ''
      }`,
      '',
    );
  }
  const ship = asRecord(job.result?.ship);
  if (job.stage === 'shipped' && ship !== undefined) {
    const pull = asRecord(ship.pullRequest);
    const url = asString(pull?.url);
    const commit = asString(ship.commit);
    const branch = asString(ship.branch);
    if (url !== undefined) lines.push(`**Pull request**: ${defuse(url, 500)}`);
    else if (commit !== undefined) {
      lines.push(
        `**Commit**: \`${defuse(commit, 64)}\`${branch === undefined ? '' : ` on \`${defuse(branch, 200)}\``}`,
      );
    }
    lines.push('');
  }
  if (job.error !== null && ['failed', 'dead_letter', 'quarantined'].includes(job.stage)) {
    lines.push(
      `**Reason**${job.error.code === undefined ? '' : ` (\`${defuse(job.error.code, 100)}\`)`}:`,
      quote(job.error.message),
      '',
    );
  }
  if (job.stage === 'cancelled') {
    const reason = asString(last(events, 'job.cancelled')?.payload.reason);
    if (reason !== undefined) lines.push('**Reason**:', quote(reason), '');
  }
  return lines;
}

/** The headline: the stage, or after a lost lease that has not been taken up again, the stall. */
function headline(job: Job, events: readonly ConveyorEvent[]): string {
  const moved = [...events].reverse().find((e) => historyLine(e) !== undefined);
  if (job.stage === 'queued' && moved?.type === 'lease.expired') {
    return 'stalled, retrying on another factory';
  }
  if (job.stage === 'queued' && moved?.type === 'job.retry_scheduled') return 'failed, retrying after a pause';
  if (moved?.type === 'job.decomposed') return 'split into subtasks; waiting for them';
  if (job.stage === 'blocked' && moved?.type === 'job.subtask_stopped') {
    return 'blocked: a subtask stopped; retry it, or cancel the job';
  }
  return HEADLINES[job.stage];
}

/** The status comment of `job`, whose events are `events` (in `seq` order). */
export function statusComment(job: Job, events: readonly ConveyorEvent[], jobUrl: string | undefined): string {
  const history = events
    .map((e) => historyLine(e))
    .filter((line): line is string => line !== undefined)
    .map((line, i) => `${String(i + 1)}. ${line}`);
  return [
    statusMarker(job.id),
    `**Conveyor**: ${headline(job, events)}`,
    '',
    `Job ${jobUrl === undefined ? `\`${job.id}\`` : `[\`${job.id}\`](${jobUrl})`}, stage \`${job.stage}\`, attempt ${String(
      job.attempts,
    )} of ${String(job.maxAttempts)}.`,
    '',
    ...details(job, events),
    '<details><summary>History</summary>',
    '',
    ...history.slice(-100),
    '',
    '</details>',
  ].join('\n');
}

/** The comment asking a blocked job's question of the issue's author. */
export function questionComment(
  jobId: string,
  seq: number,
  question: string,
  author: string | undefined,
  jobUrl: string | undefined,
): string {
  return [
    questionMarker(jobId, seq),
    `${author === undefined ? '' : `@${author} `}Conveyor needs an answer to go on with ${
      jobUrl === undefined ? `job \`${jobId}\`` : `[job \`${jobId}\`](${jobUrl})`
    }:`,
    '',
    quote(question),
    '',
    'Answer with a comment `/conveyor answer YOUR ANSWER` (from someone with write access).',
  ].join('\n');
}
