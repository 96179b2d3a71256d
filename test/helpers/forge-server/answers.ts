/**
 * The forge server's answers: GitHub's built from the description's own examples with the state's
 * values put in (so every field GitHub sends is there), Gitea's from the fields its swagger documents.
 * The server checks each against the description before it leaves.
 */
import type { ApiDescription } from './spec.js';
import type {
  ForgeComment,
  ForgeHook,
  ForgeIssue,
  ForgeLabelEvent,
  ForgePull,
  ForgeRepo,
  ForgeReview,
  Permission,
} from './index.js';

type Json = Record<string, unknown>;

export interface ForgeAnswers {
  notFound(): Json;
  unauthorized(): Json;
  validationFailed(message: string): Json;
  permission(user: string, permission: Permission): Json;
  issue(repo: ForgeRepo, issue: ForgeIssue): Json;
  comment(repo: ForgeRepo, comment: ForgeComment): Json;
  label(repo: ForgeRepo, name: string): Json;
  pull(repo: ForgeRepo, pull: ForgePull, options?: { simple?: boolean }): Json;
  review(repo: ForgeRepo, review: ForgeReview): Json;
  reviewComment(repo: ForgeRepo, review: ForgeReview, comment: ForgeReview['comments'][number]): Json;
  /** The token's user (`GET /user`). */
  user(login: string): Json;
  /** GitHub's `labeled`/`unlabeled` issue event; Gitea's timeline entry of type `label`. */
  labelEvent(repo: ForgeRepo, event: ForgeLabelEvent): Json;
  /** `GET /repos/{owner}/{repo}` with the token's permissions. */
  repository(repo: ForgeRepo, access: { push: boolean; admin: boolean }): Json;
  hook(repo: ForgeRepo, hook: ForgeHook, id: number): Json;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const NOW = '2026-01-01T00:00:00Z';

/** A stable id for a name (a label's, a user's), as the forge would give one. */
export function hashId(text: string): number {
  let hash = 7;
  for (const char of text) hash = (hash * 31 + char.charCodeAt(0)) % 1_000_000_007;
  return hash;
}

export function githubAnswers(description: ApiDescription, base: () => string): ForgeAnswers {
  const api = (): string => `${base()}/api/v3`;
  const web = (): string => base();
  const user = (login: string): Json => ({
    ...description.example('simple-user'),
    login,
    id: hashId(login),
    url: `${api()}/users/${login}`,
    html_url: `${web()}/${login}`,
  });
  const label = (repo: ForgeRepo, name: string): Json => ({
    ...description.example('label'),
    id: hashId(name),
    name,
    url: `${api()}/repos/${repo.owner}/${repo.name}/labels/${encodeURIComponent(name)}`,
  });
  return {
    notFound: () => ({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }),
    unauthorized: () => ({ message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' }),
    validationFailed: (message) => ({
      message: 'Validation Failed',
      documentation_url: 'https://docs.github.com/rest',
      errors: [{ resource: 'PullRequest', code: 'custom', message }],
    }),
    permission: (login, permission) => ({
      permission,
      role_name: permission === 'none' ? 'none' : permission,
      user: { ...description.example('simple-user'), login, id: hashId(login), role_name: permission },
    }),
    issue: (repo, issue) => ({
      ...description.example('issue'),
      number: issue.number,
      id: hashId(`${repo.owner}/${repo.name}#${issue.number}`),
      title: issue.title,
      body: issue.body,
      state: issue.state,
      user: user(issue.author),
      labels: issue.labels.map((name) => label(repo, name)),
      url: `${api()}/repos/${repo.owner}/${repo.name}/issues/${issue.number}`,
      html_url: `${web()}/${repo.owner}/${repo.name}/issues/${issue.number}`,
      pull_request: undefined,
      updated_at: iso(issue.updatedAt),
    }),
    comment: (repo, comment) => ({
      ...description.example('issue-comment'),
      id: comment.id,
      body: comment.body,
      user: user(comment.author),
      url: `${api()}/repos/${repo.owner}/${repo.name}/issues/comments/${comment.id}`,
      html_url: `${web()}/${repo.owner}/${repo.name}/issues/${comment.issue}#issuecomment-${comment.id}`,
      issue_url: `${api()}/repos/${repo.owner}/${repo.name}/issues/${comment.issue}`,
      updated_at: iso(comment.updatedAt),
    }),
    label,
    pull: (repo, pull, options = {}) => {
      const template =
        options.simple === true
          ? ((description.example('pull-request-simple-items') as unknown as Json[])[0] ?? {})
          : description.example('pull-request');
      const side = (ref: string, side: Json): Json => ({
        ...side,
        repo: { ...(side.repo as Json), name: repo.name, full_name: `${repo.owner}/${repo.name}` },
        ref,
        label: `${repo.owner}:${ref}`,
        sha: '0000000000000000000000000000000000000000',
      });
      return {
        ...template,
        number: pull.number,
        id: hashId(`${repo.owner}/${repo.name}!${pull.number}`),
        title: pull.title,
        body: pull.body,
        state: pull.state,
        draft: pull.draft,
        // The examples' team entries predate `type` becoming required: none here.
        requested_teams: [],
        requested_reviewers: [],
        head: side(pull.head, template.head as Json),
        base: side(pull.base, template.base as Json),
        url: `${api()}/repos/${repo.owner}/${repo.name}/pulls/${pull.number}`,
        html_url: `${web()}/${repo.owner}/${repo.name}/pull/${pull.number}`,
        created_at: NOW,
        updated_at: NOW,
      };
    },
    review: (repo, review) => ({
      ...(description.example('pull-request-review-items') as unknown as Json[])[0],
      id: review.id,
      user: user(review.author),
      body: review.body,
      state: { changes_requested: 'CHANGES_REQUESTED', approved: 'APPROVED', commented: 'COMMENTED' }[review.state],
      html_url: `${web()}/${repo.owner}/${repo.name}/pull/${review.pull}#pullrequestreview-${review.id}`,
      pull_request_url: `${api()}/repos/${repo.owner}/${repo.name}/pulls/${review.pull}`,
    }),
    reviewComment: (repo, review, comment) => ({
      ...(description.example('review-comment-items') as unknown as Json[])[0],
      id: comment.id,
      pull_request_review_id: review.id,
      path: comment.path,
      line: comment.line,
      original_line: comment.line,
      body: comment.body,
      user: user(review.author),
      in_reply_to_id: undefined,
      url: `${api()}/repos/${repo.owner}/${repo.name}/pulls/comments/${comment.id}`,
      pull_request_url: `${api()}/repos/${repo.owner}/${repo.name}/pulls/${review.pull}`,
    }),
    user: (login) => ({ ...description.example('private-user'), login, id: hashId(login) }),
    labelEvent: (repo, event) => ({
      id: event.id,
      node_id: `LE_${String(event.id)}`,
      url: `${api()}/repos/${repo.owner}/${repo.name}/issues/events/${String(event.id)}`,
      actor: user(event.actor),
      event: event.added ? 'labeled' : 'unlabeled',
      commit_id: null,
      commit_url: null,
      created_at: iso(event.at),
      performed_via_github_app: null,
      label: { name: event.label, color: 'ededed' },
    }),
    repository: (repo, access) => ({
      ...description.example('full-repository'),
      // The example predates `has_discussions` becoming required.
      has_discussions: false,
      name: repo.name,
      full_name: `${repo.owner}/${repo.name}`,
      permissions: { pull: true, triage: access.push, push: access.push, maintain: access.admin, admin: access.admin },
    }),
    hook: (repo, hook, id) => {
      const [template] = description.example('hook-items') as unknown as Json[];
      return {
        ...template,
        id,
        name: 'web',
        active: hook.active,
        events: hook.events,
        // GitHub never shows a secret: one that is set is masked.
        config: {
          content_type: 'json',
          insecure_ssl: '0',
          url: hook.url,
          ...(hook.secret === '' ? {} : { secret: '********' }),
        },
        url: `${api()}/repos/${repo.owner}/${repo.name}/hooks/${String(id)}`,
      };
    },
  };
}

export function giteaAnswers(base: () => string): ForgeAnswers {
  const api = (): string => `${base()}/api/v1`;
  const user = (login: string): Json => ({ id: hashId(login), login, username: login, full_name: login });
  const label = (repo: ForgeRepo, name: string): Json => ({
    id: hashId(name),
    name,
    color: 'e11d21',
    url: `${api()}/repos/${repo.owner}/${repo.name}/labels/${hashId(name)}`,
  });
  return {
    notFound: () => ({ errors: [], message: "The target couldn't be found.", url: `${api()}/swagger` }),
    unauthorized: () => ({ message: 'token is required', url: `${api()}/swagger` }),
    validationFailed: (message) => ({ message, url: `${api()}/swagger` }),
    permission: (login, permission) => ({ permission, role_name: permission, user: user(login) }),
    issue: (repo, issue) => ({
      id: hashId(`${repo.owner}/${repo.name}#${issue.number}`),
      number: issue.number,
      title: issue.title,
      body: issue.body,
      state: issue.state,
      user: user(issue.author),
      labels: issue.labels.map((name) => label(repo, name)),
      url: `${api()}/repos/${repo.owner}/${repo.name}/issues/${issue.number}`,
      html_url: `${base()}/${repo.owner}/${repo.name}/issues/${issue.number}`,
      created_at: NOW,
      updated_at: iso(issue.updatedAt),
    }),
    comment: (repo, comment) => ({
      id: comment.id,
      body: comment.body,
      user: user(comment.author),
      html_url: `${base()}/${repo.owner}/${repo.name}/issues/${comment.issue}#issuecomment-${comment.id}`,
      issue_url: `${base()}/${repo.owner}/${repo.name}/issues/${comment.issue}`,
      created_at: NOW,
      updated_at: iso(comment.updatedAt),
    }),
    label,
    pull: (repo, pull) => ({
      id: hashId(`${repo.owner}/${repo.name}!${pull.number}`),
      number: pull.number,
      title: pull.title,
      body: pull.body,
      state: pull.state,
      draft: pull.draft,
      user: user('conveyor-bot'),
      head: {
        ref: pull.head,
        label: pull.head,
        sha: '0000000000000000000000000000000000000000',
        repo: { id: 1, name: repo.name, full_name: `${repo.owner}/${repo.name}` },
      },
      base: { ref: pull.base, label: pull.base, sha: '0000000000000000000000000000000000000000' },
      url: `${api()}/repos/${repo.owner}/${repo.name}/pulls/${pull.number}`,
      html_url: `${base()}/${repo.owner}/${repo.name}/pulls/${pull.number}`,
      created_at: NOW,
      updated_at: NOW,
    }),
    review: (repo, review) => ({
      id: review.id,
      body: review.body,
      user: user(review.author),
      state: { changes_requested: 'REQUEST_CHANGES', approved: 'APPROVED', commented: 'COMMENT' }[review.state],
      comments_count: review.comments.length,
      commit_id: '0000000000000000000000000000000000000000',
      dismissed: false,
      official: true,
      stale: false,
      html_url: `${base()}/${repo.owner}/${repo.name}/pulls/${review.pull}#issuecomment-${review.id}`,
      pull_request_url: `${base()}/${repo.owner}/${repo.name}/pulls/${review.pull}`,
      submitted_at: NOW,
      updated_at: NOW,
    }),
    reviewComment: (repo, review, comment) => ({
      id: comment.id,
      body: comment.body,
      path: comment.path,
      position: comment.line,
      original_position: 0,
      pull_request_review_id: review.id,
      user: user(review.author),
      commit_id: '0000000000000000000000000000000000000000',
      original_commit_id: '0000000000000000000000000000000000000000',
      diff_hunk: '@@ -1 +1 @@',
      html_url: `${base()}/${repo.owner}/${repo.name}/pulls/${review.pull}/files#issuecomment-${comment.id}`,
      pull_request_url: `${base()}/${repo.owner}/${repo.name}/pulls/${review.pull}`,
      created_at: NOW,
      updated_at: NOW,
    }),
    user: (login) => ({ ...user(login), email: `${login}@localhost`, is_admin: false }),
    // A label put on is a `label` entry whose body is "1"; taken off, an empty body.
    labelEvent: (repo, event) => ({
      id: event.id,
      type: 'label',
      body: event.added ? '1' : '',
      user: user(event.actor),
      label: label(repo, event.label),
      html_url: `${base()}/${repo.owner}/${repo.name}/issues/${String(event.issue)}#issuecomment-${String(event.id)}`,
      issue_url: `${base()}/${repo.owner}/${repo.name}/issues/${String(event.issue)}`,
      created_at: iso(event.at),
      updated_at: iso(event.at),
    }),
    repository: (repo, access) => ({
      id: hashId(`${repo.owner}/${repo.name}`),
      name: repo.name,
      full_name: `${repo.owner}/${repo.name}`,
      owner: user(repo.owner),
      private: true,
      default_branch: 'main',
      html_url: `${base()}/${repo.owner}/${repo.name}`,
      clone_url: `${base()}/git/${repo.owner}/${repo.name}.git`,
      permissions: { pull: true, push: access.push, admin: access.admin },
    }),
    // Gitea's API shows a hook's URL and content type, never its secret.
    hook: (_repo, hook, id) => ({
      id,
      type: 'gitea',
      active: hook.active,
      events: hook.events,
      config: { url: hook.url, content_type: 'json' },
      branch_filter: '*',
      created_at: NOW,
      updated_at: NOW,
    }),
  };
}
