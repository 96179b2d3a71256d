/**
 * The `Forge` interface: what Conveyor asks of a GitHub or Gitea, one file per kind (`github.ts`,
 * `gitea.ts`). Repositories are named `owner/repo`; the token and URLs come from `[forges.NAME]`.
 */
import type { ForgeConfig, ForgeProject } from '../config/forges.js';

/** A user's access to a repository as the forge reports it; `write` and `admin` may trigger work. */
export type ForgePermission = 'admin' | 'write' | 'read' | 'none';

export interface PullRequestRef {
  number: number;
  /** The pull request's page on the forge. */
  url: string;
}

export interface PullRequestInput {
  /** The branch holding the change (`conveyor/<jobId>`), in the same repository. */
  head: string;
  /** The branch it merges into. */
  base: string;
  title: string;
  body: string;
  /** Opened as a draft (GitHub's draft; on Gitea a `WIP:` title, its way of marking one). */
  draft: boolean;
}

/** A pull request as `pullRequest` reads it. */
export interface PullRequestInfo extends PullRequestRef {
  /** `closed` also for a merged one. */
  state: 'open' | 'closed';
  /** The branch holding the change. */
  head: string;
  /** The repository `head` is in (`owner/repo`): another one for a pull request from a fork. */
  headRepo: string | undefined;
  base: string;
}

/** A submitted review of a pull request. */
export interface Review {
  id: number;
  author: string;
  /** Normalised across forges; `changes_requested` is the one that asks for a follow-up. */
  state: 'changes_requested' | 'approved' | 'commented' | 'other';
  body: string;
}

/** One comment of a review, on a line of a file. */
export interface ReviewComment {
  path: string;
  /** The line of the file it is on (the new side; the old one for a removed line), when the forge says. */
  line: number | undefined;
  body: string;
}

/** A comment on an issue (or pull request). */
export interface IssueComment {
  id: number;
  body: string;
}

/** What git authenticates with over HTTPS: a user name the forge takes beside a token, and the token. */
export interface ForgeGitCredentials {
  username: string;
  password: string;
}

/** An issue as a trigger reads it. */
export interface ForgeIssue {
  number: number;
  title: string;
  body: string;
  /** Its page. */
  url: string;
  author: string;
  labels: string[];
}

/** A Projects v2 item: its project, its column (the project field's value) and the issue it holds. */
export interface ProjectItem {
  project: { owner: string; number: number };
  /** The value of the project's `field`; undefined when unset. */
  column: string | undefined;
  /** The issue and its `owner/repo`; undefined when the item holds a draft or a pull request. */
  issue: (ForgeIssue & { repo: string }) | undefined;
}

/** What setting an issue's column came to. */
export type ColumnOutcome = 'moved' | 'unchanged' | 'not_on_board' | 'no_such_column';

/** GitHub Projects v2 over GraphQL; Gitea has no API for its boards. */
export interface ForgeBoard {
  /** The item (a `projects_v2_item` node id) with its column in `project.field`; undefined when it is gone. */
  item(itemId: string, project: ForgeProject): Promise<ProjectItem | undefined>;
  /** Puts `repo#issue`'s item in `project` into `column`; an issue not on the board is left off it. */
  setColumn(repo: string, issue: number, project: ForgeProject, column: string): Promise<ColumnOutcome>;
}

/** An issue as the poll lists it (`forge-poll.ts`). */
export interface ListedIssue extends ForgeIssue {
  /** When it last changed, in milliseconds (what `since=` compares). */
  updatedAt: number;
  /** It is a pull request (both forges number them with issues). */
  isPull: boolean;
}

/** A comment as the poll reads it, from the repository's list. */
export interface ForgeComment {
  id: number;
  /** The number of its issue (or pull request). */
  issue: number;
  body: string;
  author: string;
  authorIsBot: boolean;
  updatedAt: number;
}

/**
 * A page of a conditional list: `notModified` when the forge answered 304 to the `etag` given (GitHub;
 * that costs no rate limit), else the items and the ETag to send next time (none from Gitea).
 */
export type ForgePage<T> =
  | { notModified: true }
  | { notModified: false; items: T[]; etag: string | undefined; /** A next page may hold more. */ more: boolean };

export interface ForgeListQuery {
  /** Only what changed at or after this time (milliseconds). */
  since: number | undefined;
  etag: string | undefined;
  /** 1-based; `PAGE_SIZE` items a page (Gitea: its own maximum, 50 by default). */
  page: number;
}

/** A repository webhook as `conveyor forge check` reads it. */
export interface ForgeHook {
  url: string;
  active: boolean;
  /** A secret is set (GitHub shows it masked); undefined when the forge does not say (Gitea). */
  secretSet: boolean | undefined;
  events: string[];
}

export interface Forge {
  readonly config: ForgeConfig;
  /** Projects v2 (GitHub). */
  readonly board?: ForgeBoard;
  /** What a clone, fetch or push of `repo` authenticates with (a GitHub App's: a token of its installation there). */
  gitCredentials(repo: string): Promise<ForgeGitCredentials>;
  /** `user`'s permission on `repo`; `none` for a user the forge does not know there. */
  permission(repo: string, user: string): Promise<ForgePermission>;
  /** The open pull request from `head` into `base`, if there is one. */
  findPullRequest(repo: string, head: string, base: string): Promise<PullRequestRef | undefined>;
  createPullRequest(repo: string, input: PullRequestInput): Promise<PullRequestRef>;
  /** Its title and body (a draft keeps Gitea's `WIP:` mark); GitHub's draft state is left as it is. */
  updatePullRequest(
    repo: string,
    number: number,
    input: Omit<PullRequestInput, 'head' | 'base'>,
  ): Promise<PullRequestRef>;
  /** The pull request numbered `number`; undefined when there is none. */
  pullRequest(repo: string, number: number): Promise<PullRequestInfo | undefined>;
  /** The pull request's submitted reviews, oldest first (every page). */
  listReviews(repo: string, number: number): Promise<Review[]>;
  /** The comments of one review, each on its file and line (every page). */
  reviewComments(repo: string, number: number, reviewId: number): Promise<ReviewComment[]>;
  /** The issue's comments, oldest first (every page). */
  listComments(repo: string, issue: number): Promise<IssueComment[]>;
  createComment(repo: string, issue: number, body: string): Promise<IssueComment>;
  updateComment(repo: string, commentId: number, body: string): Promise<void>;
  /** The names of the issue's labels. */
  issueLabels(repo: string, issue: number): Promise<string[]>;
  /** Puts `name` on the issue, creating the repository's label first where the forge needs that (Gitea). */
  addLabel(repo: string, issue: number, name: string): Promise<void>;
  /** Takes `name` off the issue; one it does not carry is no error. */
  removeLabel(repo: string, issue: number, name: string): Promise<void>;
  /** The issue (or pull request) `number`; undefined when the forge has none. */
  issue(repo: string, number: number): Promise<ListedIssue | undefined>;
  /** Open issues carrying `label`, oldest change first. */
  listIssues(repo: string, label: string, query: ForgeListQuery): Promise<ForgePage<ListedIssue>>;
  /** Comments on every issue and pull request of `repo`, oldest change first. */
  listRepoComments(repo: string, query: ForgeListQuery): Promise<ForgePage<ForgeComment>>;
  /** Who last put `label` on the issue (GitHub's issue events, Gitea's timeline); undefined if no one did. */
  labeller(repo: string, issue: number, label: string): Promise<{ login: string; isBot: boolean } | undefined>;
  /** The token's own user; throws `ForgeError` with status 401 for a bad token. */
  currentUser(): Promise<string>;
  /** What the token may do on `repo`; undefined when it cannot see it. */
  repoAccess(repo: string): Promise<{ push: boolean; admin: boolean } | undefined>;
  /** The repository's webhooks; `forbidden` when the token may not list them (it needs admin rights). */
  listHooks(repo: string): Promise<ForgeHook[] | 'forbidden'>;
}

/** A forge call that failed for good (after the retries the client makes). */
export class ForgeError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ForgeError';
  }
}

/** Items per page of the poll's lists. */
export const PAGE_SIZE = 100;

/** Milliseconds of a forge's timestamp; a forge sends ISO 8601. */
export function forgeTime(text: string | undefined): number {
  const ms = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(ms) ? 0 : ms;
}

/** An issue (or pull request) of either forge's REST answer, with its label names, as the poll lists it. */
export function listedIssue(
  data: {
    number: number;
    title: string;
    body?: string | null | undefined;
    html_url: string;
    user?: { login?: string } | null | undefined;
    updated_at?: string | undefined;
    pull_request?: unknown;
  },
  labels: string[],
): ListedIssue {
  return {
    number: data.number,
    title: data.title,
    body: data.body ?? '',
    url: data.html_url,
    author: data.user?.login ?? '',
    labels,
    updatedAt: forgeTime(data.updated_at),
    isPull: data.pull_request !== undefined && data.pull_request !== null,
  };
}

/** `since=` as both forges take it: ISO 8601 in UTC to the second. */
export function sinceParam(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The issue number at the end of a comment's `issue_url`. */
export function issueNumberOf(issueUrl: string | undefined): number {
  return Number(/\/(\d+)$/.exec(issueUrl ?? '')?.[1] ?? 0);
}

/** Whether `permission` lets its holder trigger work. */
export function canWrite(permission: ForgePermission): boolean {
  return permission === 'admin' || permission === 'write';
}

/** The clone and push URL of `repo` (`owner/repo`) on `forge`. */
export function repoUrl(forge: Pick<ForgeConfig, 'gitUrl'>, repo: string): string {
  return `${forge.gitUrl}/${repo}.git`;
}

/**
 * The forge and `owner/repo` a job's repository URL names, when it is `<gitUrl>/<owner>/<repo>(.git)`
 * of one of `forges`; undefined otherwise.
 */
export function forgeRepoOf(
  forges: readonly ForgeConfig[],
  url: string,
): { forge: ForgeConfig; repo: string } | undefined {
  for (const forge of forges) {
    const prefix = `${forge.gitUrl}/`;
    if (!url.startsWith(prefix)) continue;
    const repo = url
      .slice(prefix.length)
      .replace(/\/+$/, '')
      .replace(/\.git$/, '');
    if (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo)) return { forge, repo };
  }
  return undefined;
}
