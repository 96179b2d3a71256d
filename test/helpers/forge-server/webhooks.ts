/**
 * Webhook deliveries as the forges send them, signed with the configured secret. GitHub's bodies are
 * recorded real deliveries from `@octokit/webhooks-examples` with the test's repository, issue, labels
 * and sender put in; Gitea's follow the shape Gitea documents for issue events (`IssuePayload`:
 * action, number, issue, repository, sender), with `X-Gitea-Event` and `X-Gitea-Event-Type` headers.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { sign } from '@octokit/webhooks-methods';
import type { ForgeKind } from './index.js';

type Json = Record<string, unknown>;

const require = createRequire(import.meta.url);

interface ExampleGroup {
  name: string;
  examples: Json[];
}

/** A recorded GitHub delivery of `event` with `action`. */
function githubExample(event: string, action: string): Json {
  const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleGroup[];
  const found = groups.find((group) => group.name === event)?.examples.find((example) => example.action === action);
  if (found === undefined) throw new Error(`@octokit/webhooks-examples has no ${event}.${action}`);
  return structuredClone(found);
}

export interface IssueEvent {
  /** `opened`, or `labeled` (GitHub) / `label_updated` (Gitea). */
  action: 'opened' | 'labeled';
  repo: string;
  number: number;
  title: string;
  body: string;
  author: string;
  labels: string[];
  /** The label just added (`labeled`). */
  label?: string | undefined;
  /** Whose act it is. */
  sender: string;
  senderIsBot?: boolean;
  /** The issue's page. */
  url: string;
}

export interface Delivery {
  body: string;
  headers: Record<string, string>;
  id: string;
}

function githubIssue(event: IssueEvent): Json {
  const example = githubExample('issues', event.action);
  const [owner = '', name = ''] = event.repo.split('/');
  const issue = example.issue as Json;
  const labelTemplate = (issue.labels as Json[] | undefined)?.[0] ?? {};
  const asLabel = (label: string): Json => ({ ...labelTemplate, name: label });
  return {
    ...example,
    issue: {
      ...issue,
      number: event.number,
      title: event.title,
      body: event.body,
      html_url: event.url,
      user: { ...(issue.user as Json), login: event.author },
      labels: event.labels.map(asLabel),
    },
    ...(event.label === undefined ? {} : { label: asLabel(event.label) }),
    repository: {
      ...(example.repository as Json),
      name,
      full_name: event.repo,
      owner: { ...((example.repository as Json).owner as Json), login: owner },
    },
    sender: { ...(example.sender as Json), login: event.sender, type: event.senderIsBot === true ? 'Bot' : 'User' },
  };
}

function giteaIssue(event: IssueEvent): Json {
  const [owner = '', name = ''] = event.repo.split('/');
  const user = (login: string): Json => ({
    id: login.length,
    login,
    login_name: '',
    full_name: login,
    email: `${login}@noreply.localhost`,
    username: login,
  });
  return {
    action: event.action === 'labeled' ? 'label_updated' : 'opened',
    number: event.number,
    issue: {
      id: event.number + 100,
      url: `http://gitea.localhost/api/v1/repos/${event.repo}/issues/${String(event.number)}`,
      html_url: event.url,
      number: event.number,
      user: user(event.author),
      original_author: '',
      original_author_id: 0,
      title: event.title,
      body: event.body,
      ref: '',
      assets: [],
      labels: event.labels.map((label, i) => ({
        id: i + 1,
        name: label,
        exclusive: false,
        is_archived: false,
        color: 'e11d21',
        description: '',
        url: '',
      })),
      milestone: null,
      assignee: null,
      assignees: null,
      state: 'open',
      is_locked: false,
      comments: 0,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      closed_at: null,
      due_date: null,
      pull_request: null,
      repository: { id: 1, name, owner, full_name: event.repo },
      pin_order: 0,
    },
    repository: {
      id: 1,
      owner: user(owner),
      name,
      full_name: event.repo,
      private: false,
      html_url: `http://gitea.localhost/${event.repo}`,
      clone_url: `http://gitea.localhost/${event.repo}.git`,
      default_branch: 'main',
    },
    sender: user(event.sender),
    commit_id: '',
  };
}

export interface CommentEvent {
  repo: string;
  number: number;
  title: string;
  body: string;
  author: string;
  labels: string[];
  url: string;
  /** The comment's text. */
  comment: string;
  /** Who wrote it. */
  sender: string;
  senderIsBot?: boolean;
  /** The thread is a pull request (GitHub: `issue.pull_request` set; Gitea: `is_pull`). @default false */
  pull?: boolean;
  /** The comment's id. @default the recorded one (GitHub), 5000 + number (Gitea) */
  commentId?: number;
}

/** A comment on an issue as `kind` delivers it (`issue_comment`, action `created`). */
export async function commentDelivery(
  kind: ForgeKind,
  secret: string,
  event: CommentEvent,
  options: { id?: string } = {},
): Promise<Delivery> {
  const issue: IssueEvent = { ...event, action: 'opened' };
  const type = event.senderIsBot === true ? 'Bot' : 'User';
  let payload: Json;
  if (kind === 'github') {
    const example = githubExample('issue_comment', 'created');
    const base = githubIssue(issue);
    payload = {
      ...example,
      issue: {
        ...(example.issue as Json),
        ...(base.issue as Json),
        ...(event.pull === true
          ? {
              pull_request: {
                url: `https://api.github.com/repos/${event.repo}/pulls/${String(event.number)}`,
                html_url: event.url,
                diff_url: `${event.url}.diff`,
                patch_url: `${event.url}.patch`,
                merged_at: null,
              },
            }
          : {}),
      },
      comment: {
        ...(example.comment as Json),
        ...(event.commentId === undefined ? {} : { id: event.commentId }),
        body: event.comment,
        user: { ...((example.comment as Json).user as Json), login: event.sender, type },
      },
      repository: base.repository,
      sender: { ...(base.sender as Json), login: event.sender, type },
    };
  } else {
    const base = giteaIssue({ ...issue, sender: event.sender });
    payload = {
      action: 'created',
      issue: base.issue,
      comment: {
        id: event.commentId ?? 5000 + event.number,
        html_url: `${event.url}#issuecomment-${String(5000 + event.number)}`,
        pull_request_url: '',
        issue_url: event.url,
        user: base.sender,
        original_author: '',
        original_author_id: 0,
        body: event.comment,
        assets: [],
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
      },
      repository: base.repository,
      sender: base.sender,
      is_pull: event.pull === true,
    };
  }
  return signedDelivery(kind, secret, 'issue_comment', payload, options);
}

export interface ReviewEvent {
  repo: string;
  /** The pull request's number, page, head branch and base branch. */
  number: number;
  url: string;
  head: string;
  base: string;
  title: string;
  /** What the review says (GitHub sends its id too; Gitea only its text). */
  reviewId: number;
  state: 'changes_requested' | 'approved' | 'commented';
  body: string;
  /** The reviewer. */
  sender: string;
}

/**
 * A submitted review as `kind` delivers it: GitHub's `pull_request_review` (action `submitted`), Gitea's
 * `pull_request_review_rejected` / `_approved` / `_comment` (X-Gitea-Event-Type; its `PullRequestPayload`
 * with `review: {type, content}`, no review id).
 */
export async function reviewDelivery(
  kind: ForgeKind,
  secret: string,
  event: ReviewEvent,
  options: { id?: string } = {},
): Promise<Delivery> {
  const [owner = '', name = ''] = event.repo.split('/');
  if (kind === 'github') {
    const example = githubExample('pull_request_review', 'submitted');
    const pull = example.pull_request as Json;
    const repository = {
      ...(example.repository as Json),
      name,
      full_name: event.repo,
      owner: { ...((example.repository as Json).owner as Json), login: owner },
    };
    const side = (ref: string, template: Json): Json => ({
      ...template,
      ref,
      label: `${owner}:${ref}`,
      repo: repository,
    });
    const sender = { ...(example.sender as Json), login: event.sender, type: 'User' };
    const payload = {
      ...example,
      review: {
        ...(example.review as Json),
        id: event.reviewId,
        body: event.body,
        state: event.state,
        user: sender,
        html_url: `${event.url}#pullrequestreview-${String(event.reviewId)}`,
      },
      pull_request: {
        ...pull,
        number: event.number,
        title: event.title,
        html_url: event.url,
        head: side(event.head, pull.head as Json),
        base: side(event.base, pull.base as Json),
      },
      repository,
      sender,
    };
    return signedDelivery(kind, secret, 'pull_request_review', payload, options);
  }
  const issue = giteaIssue({
    action: 'opened',
    repo: event.repo,
    number: event.number,
    title: event.title,
    body: '',
    author: 'conveyor-bot',
    labels: [],
    sender: event.sender,
    url: event.url,
  });
  const type = { changes_requested: 'rejected', approved: 'approved', commented: 'comment' }[event.state];
  const branch = (ref: string): Json => ({ label: ref, ref, sha: '0'.repeat(40), repo_id: 1, repo: issue.repository });
  const payload = {
    action: 'reviewed',
    number: event.number,
    pull_request: {
      id: event.number + 100,
      url: event.url,
      number: event.number,
      user: (issue.issue as Json).user,
      title: event.title,
      body: '',
      labels: [],
      state: 'open',
      html_url: event.url,
      diff_url: `${event.url}.diff`,
      patch_url: `${event.url}.patch`,
      mergeable: true,
      merged: false,
      base: branch(event.base),
      head: branch(event.head),
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
    },
    requested_reviewer: null,
    repository: issue.repository,
    sender: issue.sender,
    commit_id: '',
    review: { type: `pull_request_review_${type}`, content: event.body },
  };
  return signedDelivery(kind, secret, `pull_request_review_${type}`, payload, options);
}

/** An issue event as `kind` delivers it, signed with `secret` (`badSignature`: signed with another). */
export async function issueDelivery(
  kind: ForgeKind,
  secret: string,
  event: IssueEvent,
  options: { id?: string; badSignature?: boolean; unsigned?: boolean } = {},
): Promise<Delivery> {
  const payload = kind === 'github' ? githubIssue(event) : giteaIssue(event);
  const gitEvent = kind === 'github' ? 'issues' : event.action === 'labeled' ? 'issue_label' : 'issues';
  return signedDelivery(kind, secret, gitEvent, payload, options);
}

/** Any event's payload, signed as `kind` signs deliveries. */
export async function signedDelivery(
  kind: ForgeKind,
  secret: string,
  event: string,
  payload: unknown,
  options: { id?: string; badSignature?: boolean; unsigned?: boolean } = {},
): Promise<Delivery> {
  const body = JSON.stringify(payload);
  const id = options.id ?? randomUUID();
  const key = options.badSignature === true ? `${secret}-wrong` : secret;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (kind === 'github') {
    headers['x-github-event'] = event;
    headers['x-github-delivery'] = id;
    if (options.unsigned !== true) headers['x-hub-signature-256'] = await sign(key, body);
  } else {
    // Gitea names the family in X-Gitea-Event and the precise event in X-Gitea-Event-Type.
    // Gitea's review events' family is `pull_request_approved`, `pull_request_rejected`, `pull_request_comment`.
    headers['x-gitea-event'] =
      event === 'issue_label' ? 'issues' : event.replace(/^pull_request_review_/, 'pull_request_');
    headers['x-gitea-event-type'] = event;
    headers['x-gitea-delivery'] = id;
    if (options.unsigned !== true) headers['x-gitea-signature'] = createHmac('sha256', key).update(body).digest('hex');
  }
  return { body, headers, id };
}

/** The recorded GitHub delivery of another event (a push, a ping): for "ignored" answers. */
export function githubRecorded(event: string, action?: string): Json {
  const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleGroup[];
  const group = groups.find((g) => g.name === event);
  const found = action === undefined ? group?.examples[0] : group?.examples.find((e) => e.action === action);
  if (found === undefined) throw new Error(`@octokit/webhooks-examples has no ${event}`);
  return structuredClone(found);
}
