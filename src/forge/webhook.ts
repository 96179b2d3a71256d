/**
 * A forge's webhook delivery: its signature checked on the raw body before anything parses it, then
 * the events Conveyor acts on read into a trigger (who did what to which issue). Everything else is
 * ignored with a reason. Payloads are checked with Zod for the few fields read; the rest is not kept.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { verify as verifyGitHub } from '@octokit/webhooks-methods';
import { z } from 'zod';
import type { ForgeKind } from '../config/forges.js';
import type { ForgeIssue } from './forge.js';

export type Headers = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** Whether `rawBody` carries a valid signature made with `secret`; constant-time on both forges. */
export async function verifySignature(
  kind: ForgeKind,
  secret: string,
  rawBody: string,
  headers: Headers,
): Promise<boolean> {
  if (kind === 'github') {
    const signature = header(headers, 'x-hub-signature-256');
    if (signature === undefined) return false;
    try {
      return await verifyGitHub(secret, rawBody, signature);
    } catch {
      // A malformed signature header.
      return false;
    }
  }
  const signature = header(headers, 'x-gitea-signature');
  if (signature === undefined || !/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(rawBody, 'utf8').digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

/** The delivery's event name and id (`X-GitHub-Delivery` / `X-Gitea-Delivery`), when both are there. */
export function deliveryOf(kind: ForgeKind, headers: Headers): { event: string; id: string } | undefined {
  const prefix = kind === 'github' ? 'x-github' : 'x-gitea';
  // Gitea names the precise event (`issue_label`) in X-Gitea-Event-Type, the family (`issues`) in X-Gitea-Event.
  const event =
    header(headers, kind === 'github' ? 'x-github-event' : 'x-gitea-event-type') ?? header(headers, `${prefix}-event`);
  const id = header(headers, `${prefix}-delivery`);
  return event === undefined || id === undefined || id === '' || id.length > 200 ? undefined : { event, id };
}

const User = z.looseObject({ login: z.string().min(1), type: z.string().optional() });
const Label = z.looseObject({ name: z.string() });
const Issue = z.looseObject({
  number: z.int().positive(),
  title: z.string(),
  body: z.string().nullable().optional(),
  html_url: z.string(),
  user: User,
  labels: z.array(Label).nullable().optional(),
  pull_request: z.unknown().optional(),
});
const IssuesPayload = z.looseObject({
  action: z.string(),
  issue: Issue,
  label: Label.optional(),
  repository: z.looseObject({ full_name: z.string().min(1) }),
  sender: User,
});

export interface IssueTrigger {
  kind: 'issue';
  /** `owner/repo`. */
  repo: string;
  issue: ForgeIssue;
  /** Whose act it was: the opener of an issue opened with the label, the labeller of a labelled one. */
  actor: string;
  /** The actor is a bot account (GitHub's `type: Bot`). */
  actorIsBot: boolean;
}

/** What a `/conveyor …` comment asks. */
export type ConveyorCommand =
  | { name: 'run'; pipeline: string | undefined }
  | { name: 'retry' }
  | { name: 'cancel' }
  | { name: 'answer'; text: string }
  /** On a pull request: a follow-up job with TEXT (and the latest review requesting changes); `agent:RUNTIME` picks its agent. */
  | { name: 'fix'; agent: string | undefined; text: string };

/** A comment on an issue giving Conveyor a command; whose it is decides whether it is obeyed. */
export interface CommandTrigger extends Omit<IssueTrigger, 'kind'> {
  kind: 'command';
  command: ConveyorCommand;
}

/** A Projects v2 item whose column someone changed: whether it is now the ready column is asked of the forge. */
export interface BoardTrigger {
  kind: 'board';
  /** The item's node id. */
  itemId: string;
  actor: string;
  actorIsBot: boolean;
}

/**
 * A review requesting changes, or a `/conveyor fix` comment, on a pull request: a follow-up job on the
 * pull request's branch, once the intake has checked the actor and that the pull request is Conveyor's.
 */
export interface FollowUpTrigger {
  kind: 'follow-up';
  /** `owner/repo`. */
  repo: string;
  pullRequest: { number: number; url: string };
  /** The review: GitHub sends its id; Gitea only its text (the intake finds it among the reviews by its author). */
  review: { id: number | undefined; author: string; body: string } | undefined;
  /** A `/conveyor fix [agent:RUNTIME] [TEXT]` comment: its id, TEXT and the runtime it names. */
  fix: { commentId: number; text: string; agent: string | undefined } | undefined;
  actor: string;
  actorIsBot: boolean;
}

export type WebhookReading =
  IssueTrigger | CommandTrigger | FollowUpTrigger | BoardTrigger | { kind: 'ignored'; reason: string };

const ProjectItemPayload = z.looseObject({
  action: z.string(),
  projects_v2_item: z.looseObject({ node_id: z.string().min(1).max(200), content_type: z.string() }),
  changes: z.looseObject({ field_value: z.looseObject({}).optional() }).optional(),
  sender: User,
});

/** A `projects_v2_item` delivery: an issue's item whose field value changed (GitHub's organisation webhook). */
function readProjectItem(payload: unknown): BoardTrigger | { kind: 'ignored'; reason: string } {
  const parsed = ProjectItemPayload.safeParse(payload);
  if (!parsed.success) return { kind: 'ignored', reason: 'the projects_v2_item payload lacks the fields of an item' };
  const { action, projects_v2_item: item, changes, sender } = parsed.data;
  if (action !== 'edited' || changes?.field_value === undefined) {
    return { kind: 'ignored', reason: `action ${action} of projects_v2_item changes no column` };
  }
  if (item.content_type !== 'Issue')
    return { kind: 'ignored', reason: `the item holds a ${item.content_type}, not an issue` };
  return { kind: 'board', itemId: item.node_id, actor: sender.login, actorIsBot: sender.type === 'Bot' };
}

const labelNames = (issue: z.infer<typeof Issue>): string[] => (issue.labels ?? []).map((l) => l.name);

/** The issue as a trigger carries it, from either event's payload. */
function issueOf(issue: z.infer<typeof Issue>): IssueTrigger['issue'] {
  return {
    number: issue.number,
    title: issue.title,
    body: issue.body ?? '',
    url: issue.html_url,
    author: issue.user.login,
    labels: labelNames(issue),
  };
}

const CommentPayload = z.looseObject({
  action: z.string(),
  issue: Issue,
  comment: z.looseObject({ id: z.int().positive().optional(), body: z.string().nullable().optional(), user: User }),
  repository: z.looseObject({ full_name: z.string().min(1) }),
  sender: User,
  /** Gitea: the comment is on a pull request. */
  is_pull: z.boolean().optional(),
});

/**
 * The command a comment gives, when its first line is `/conveyor run [pipeline]`, `/conveyor retry`,
 * `/conveyor cancel`, `/conveyor answer TEXT` (TEXT: the rest of the comment) or `/conveyor fix
 * [agent:RUNTIME] [TEXT]`; a string naming the
 * problem for another `/conveyor …`; undefined for a comment that is not a command.
 */
export function readCommand(body: string): ConveyorCommand | string | undefined {
  const match = /^\s*\/conveyor(?:[ \t]+(\S+))?([\s\S]*)$/.exec(body.replace(/\r\n/g, '\n'));
  if (match === null) return undefined;
  const name = match[1] ?? '';
  const rest = (match[2] ?? '').trim();
  const usage =
    'the commands are /conveyor run [pipeline], /conveyor retry, /conveyor cancel, /conveyor answer TEXT, and on a pull request /conveyor fix [agent:RUNTIME] [TEXT]';
  switch (name) {
    case 'run': {
      const pipeline = rest.split(/\s+/)[0] ?? '';
      return { name: 'run', pipeline: pipeline === '' ? undefined : pipeline };
    }
    case 'retry':
    case 'cancel':
      return { name };
    case 'answer':
      return rest === '' ? `/conveyor answer needs the answer after it; ${usage}` : { name: 'answer', text: rest };
    case 'fix': {
      const agent = /^agent:(\S*)/.exec(rest);
      return {
        name: 'fix',
        agent: agent === null ? undefined : (agent[1] ?? ''),
        text: agent === null ? rest : rest.slice(agent[0].length).trim(),
      };
    }
    default:
      return `/conveyor ${name} is not a command; ${usage}`;
  }
}

type Ignored = { kind: 'ignored'; reason: string };

/** An issue as a trigger carries it, and whether it is a pull request (which never triggers). */
export type TriggerIssue = IssueTrigger['issue'] & { isPull: boolean };

/**
 * A comment's command as a trigger, or why it does nothing: the one rule for a webhook's comment and
 * one the poll finds.
 */
export function commentTrigger(
  repo: string,
  issue: TriggerIssue,
  comment: { id: number | undefined; body: string },
  actor: string,
  actorIsBot: boolean,
): CommandTrigger | FollowUpTrigger | Ignored {
  const command = readCommand(comment.body);
  if (command === undefined) return { kind: 'ignored', reason: 'the comment is not a /conveyor command' };
  if (typeof command === 'string') return { kind: 'ignored', reason: command };
  if (issue.isPull) {
    if (command.name !== 'fix' || comment.id === undefined) {
      return { kind: 'ignored', reason: `/conveyor ${command.name} on a pull request: only /conveyor fix acts there` };
    }
    return {
      kind: 'follow-up',
      repo,
      pullRequest: { number: issue.number, url: issue.url },
      review: undefined,
      fix: { commentId: comment.id, text: command.text, agent: command.agent },
      actor,
      actorIsBot,
    };
  }
  const { isPull: _pull, ...rest } = issue;
  return { kind: 'command', repo, issue: rest, command, actor, actorIsBot };
}

/**
 * An issue given the trigger label (opened with it, or labelled) by `actor` as a trigger, or why it
 * does nothing: the one rule for a webhook's issue event and an issue the poll finds.
 */
export function labelTrigger(
  repo: string,
  issue: TriggerIssue,
  label: string,
  actor: string,
  actorIsBot: boolean,
): IssueTrigger | Ignored {
  if (issue.isPull) return { kind: 'ignored', reason: 'a pull request, not an issue' };
  if (!issue.labels.includes(label)) return { kind: 'ignored', reason: `the issue does not carry the label ${label}` };
  const { isPull: _pull, ...rest } = issue;
  return { kind: 'issue', repo, issue: rest, actor, actorIsBot };
}

const isPullOf = (issue: z.infer<typeof Issue>): boolean =>
  issue.pull_request !== undefined && issue.pull_request !== null;

/** A verified `issue_comment` delivery read into a command, or the reason it does nothing. */
function readComment(payload: unknown): CommandTrigger | FollowUpTrigger | { kind: 'ignored'; reason: string } {
  const parsed = CommentPayload.safeParse(payload);
  if (!parsed.success) return { kind: 'ignored', reason: 'the issue_comment payload lacks the fields of a comment' };
  const { action, issue, comment, repository, sender } = parsed.data;
  if (action !== 'created')
    return { kind: 'ignored', reason: `action ${action} of issue_comment does not trigger work` };
  return commentTrigger(
    repository.full_name,
    { ...issueOf(issue), isPull: isPullOf(issue) || parsed.data.is_pull === true },
    { id: comment.id, body: comment.body ?? '' },
    comment.user.login,
    comment.user.type === 'Bot' || sender.type === 'Bot',
  );
}

const PullRequest = z.looseObject({ number: z.int().positive(), html_url: z.string() });
const GitHubReviewPayload = z.looseObject({
  action: z.string(),
  review: z.looseObject({ id: z.int().positive(), body: z.string().nullable().optional(), state: z.string() }),
  pull_request: PullRequest,
  repository: z.looseObject({ full_name: z.string().min(1) }),
  sender: User,
});
const GiteaReviewPayload = z.looseObject({
  pull_request: PullRequest,
  review: z.looseObject({ content: z.string().nullable().optional() }).nullable().optional(),
  repository: z.looseObject({ full_name: z.string().min(1) }),
  sender: User,
});

/**
 * A submitted review: one requesting changes asks for a follow-up (GitHub's `pull_request_review` with
 * `review.state` `changes_requested`; Gitea's `pull_request_review_rejected`); any other is ignored.
 */
function readReview(
  kind: ForgeKind,
  event: string,
  payload: unknown,
): FollowUpTrigger | { kind: 'ignored'; reason: string } {
  if (kind === 'github') {
    const parsed = GitHubReviewPayload.safeParse(payload);
    if (!parsed.success) return { kind: 'ignored', reason: `the ${event} payload lacks the fields of a review` };
    const { action, review, pull_request, repository, sender } = parsed.data;
    if (action !== 'submitted')
      return { kind: 'ignored', reason: `action ${action} of ${event} does not trigger work` };
    if (review.state.toLowerCase() !== 'changes_requested') {
      return {
        kind: 'ignored',
        reason: `a review that is ${review.state}, not changes_requested, asks for no follow-up`,
      };
    }
    return {
      kind: 'follow-up',
      repo: repository.full_name,
      pullRequest: { number: pull_request.number, url: pull_request.html_url },
      review: { id: review.id, author: sender.login, body: review.body ?? '' },
      fix: undefined,
      actor: sender.login,
      actorIsBot: sender.type === 'Bot',
    };
  }
  if (event !== 'pull_request_review_rejected') {
    return { kind: 'ignored', reason: `event ${event}: only a review requesting changes asks for a follow-up` };
  }
  const parsed = GiteaReviewPayload.safeParse(payload);
  if (!parsed.success) return { kind: 'ignored', reason: `the ${event} payload lacks the fields of a review` };
  const { review, pull_request, repository, sender } = parsed.data;
  return {
    kind: 'follow-up',
    repo: repository.full_name,
    pullRequest: { number: pull_request.number, url: pull_request.html_url },
    review: { id: undefined, author: sender.login, body: review?.content ?? '' },
    fix: undefined,
    actor: sender.login,
    actorIsBot: sender.type === 'Bot',
  };
}

/** Gitea's review events (X-Gitea-Event-Type). */
const GITEA_REVIEW_EVENTS = [
  'pull_request_review_rejected',
  'pull_request_review_approved',
  'pull_request_review_comment',
];

/**
 * What a verified delivery asks of Conveyor: an issue opened with the trigger label, or labelled with
 * it (GitHub names the label added; Gitea's `label_updated` gives the issue's labels after the change),
 * a `/conveyor …` comment on an issue (`issue_comment` on both forges), on a pull request a review
 * requesting changes or a `/conveyor fix` comment, or (GitHub) an issue's Projects v2 item whose column
 * changed.
 */
export function readDelivery(kind: ForgeKind, event: string, payload: unknown, label: string): WebhookReading {
  if (event === 'issue_comment') return readComment(payload);
  if (kind === 'github' ? event === 'pull_request_review' : GITEA_REVIEW_EVENTS.includes(event)) {
    return readReview(kind, event, payload);
  }
  if (kind === 'github' && event === 'projects_v2_item') return readProjectItem(payload);
  const issueEvent = kind === 'github' ? event === 'issues' : event === 'issues' || event === 'issue_label';
  if (!issueEvent) return { kind: 'ignored', reason: `event ${event} is not one Conveyor acts on` };
  const parsed = IssuesPayload.safeParse(payload);
  if (!parsed.success) return { kind: 'ignored', reason: `the ${event} payload lacks the fields of an issue event` };
  const { action, issue, repository, sender } = parsed.data;
  if (isPullOf(issue)) return { kind: 'ignored', reason: 'a pull request, not an issue' };
  const labelled =
    kind === 'github' ? action === 'labeled' && parsed.data.label?.name === label : action === 'label_updated';
  const opened = action === 'opened';
  if (!labelled && !opened) return { kind: 'ignored', reason: `action ${action} of ${event} does not trigger work` };
  return labelTrigger(
    repository.full_name,
    { ...issueOf(issue), isPull: false },
    label,
    sender.login,
    sender.type === 'Bot',
  );
}
