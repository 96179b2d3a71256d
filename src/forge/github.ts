/**
 * GitHub (github.com and Enterprise) through Octokit's core with its retry and throttling plugins: a
 * failing call is retried, a rate-limited one waits as GitHub says, twice at most, then fails. With a
 * token every call carries it; with a GitHub App (`@octokit/auth-app`) each repository's calls and
 * pushes carry a token of the App's installation there, found once per repository (the App's JWT),
 * minted and renewed by auth-app before it expires.
 */
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/core';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck';
import { type ForgeConfig, type ForgeProject, missingCredential } from '../config/forges.js';
import { VERSION } from '../version.js';
import {
  type ColumnOutcome,
  type Forge,
  type ForgeBoard,
  ForgeError,
  type ForgeGitCredentials,
  type ForgeComment,
  type ForgeHook,
  type ListedIssue,
  type ForgeListQuery,
  type ForgePage,
  type ForgePermission,
  forgeTime,
  listedIssue,
  type IssueComment,
  type PullRequestInfo,
  issueNumberOf,
  PAGE_SIZE,
  type PullRequestInput,
  type ProjectItem,
  type PullRequestRef,
  type Review,
  type ReviewComment,
  sinceParam,
} from './forge.js';

const OWNER_LOGIN = 'owner { ... on Organization { login } ... on User { login } }';

/** A project item, its column, and the issue it holds. */
const ITEM_QUERY = `query ($id: ID!, $field: String!) {
  node(id: $id) {
    ... on ProjectV2Item {
      project { number ${OWNER_LOGIN} }
      fieldValueByName(name: $field) { ... on ProjectV2ItemFieldSingleSelectValue { name } }
      content {
        ... on Issue {
          number title body url
          author { login }
          repository { nameWithOwner }
          labels(first: 100) { nodes { name } }
        }
      }
    }
  }
}`;

/** An issue's items on every board, each with its project's column field and its value there. */
const ISSUE_ITEMS_QUERY = `query ($owner: String!, $name: String!, $issue: Int!, $field: String!) {
  repository(owner: $owner, name: $name) {
    issue(number: $issue) {
      projectItems(first: 50) {
        nodes {
          id
          project {
            id number ${OWNER_LOGIN}
            field(name: $field) { ... on ProjectV2SingleSelectField { id options { id name } } }
          }
          fieldValueByName(name: $field) { ... on ProjectV2ItemFieldSingleSelectValue { name } }
        }
      }
    }
  }
}`;

const SET_COLUMN_MUTATION = `mutation ($project: ID!, $item: ID!, $field: ID!, $option: String!) {
  updateProjectV2ItemFieldValue(
    input: { projectId: $project, itemId: $item, fieldId: $field, value: { singleSelectOptionId: $option } }
  ) { projectV2Item { id } }
}`;

interface Login {
  login?: string;
}
interface ItemAnswer {
  node: {
    project?: { number: number; owner: Login };
    fieldValueByName?: { name?: string } | null;
    content?: {
      number?: number;
      title?: string;
      body?: string;
      url?: string;
      author?: Login | null;
      repository?: { nameWithOwner: string };
      labels?: { nodes: ({ name: string } | null)[] | null } | null;
    } | null;
  } | null;
}
interface IssueItemsAnswer {
  repository: {
    issue: {
      projectItems: {
        nodes:
          | ({
              id: string;
              project: {
                id: string;
                number: number;
                owner: Login;
                field: { id?: string; options?: { id: string; name: string }[] } | null;
              };
              fieldValueByName: { name?: string } | null;
            } | null)[]
          | null;
      };
    } | null;
  } | null;
}

const sameOwner = (a: string | undefined, b: string): boolean => a?.toLowerCase() === b.toLowerCase();

const GitHubClient = Octokit.plugin(retry, throttling);

/** Rate-limit waits taken before a call fails. */
const RATE_LIMIT_RETRIES = 2;

/** Pages read of a list (100 entries each) before the rest is left unread. */
const MAX_PAGES = 20;

const quiet = (): void => undefined;

/** GitHub's review states (`CHANGES_REQUESTED`, …) as the `Review` of `forge.ts` names them. */
const REVIEW_STATES: Readonly<Record<string, Review['state']>> = {
  CHANGES_REQUESTED: 'changes_requested',
  APPROVED: 'approved',
  COMMENTED: 'commented',
};

function split(repo: string): { owner: string; repo: string } {
  const [owner = '', name = ''] = repo.split('/');
  return { owner, repo: name };
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number'
    ? error.status
    : undefined;
}

function failed(what: string, error: unknown): ForgeError {
  // A GraphQL answer with errors (a node that is not there, a field refused) will be the same next time.
  const status = (error as Error).name === 'GraphqlResponseError' ? 422 : statusOf(error);
  return new ForgeError(
    `GitHub: ${what} failed${status === undefined ? '' : ` (HTTP ${String(status)})`}: ${(error as Error).message}`,
    status,
    { cause: error },
  );
}

interface IssueData {
  number: number;
  title: string;
  body?: string | null;
  html_url: string;
  user: { login: string } | null;
  labels: (string | { name?: string })[];
  updated_at: string;
  pull_request?: unknown;
}

function issueOf(data: IssueData): ListedIssue {
  return listedIssue(
    data,
    data.labels.map((label) => (typeof label === 'string' ? label : (label.name ?? ''))),
  );
}

/** The query of a conditional list page: `since` and the page, the ETag as `If-None-Match`. */
function listParams(query: ForgeListQuery): Record<string, unknown> {
  return {
    ...(query.since === undefined ? {} : { since: sinceParam(query.since) }),
    per_page: PAGE_SIZE,
    page: query.page,
    ...(query.etag === undefined ? {} : { headers: { 'if-none-match': query.etag } }),
  };
}

export interface GitHubOptions {
  /** Base of the retry plugin's backoff, for tests. @default Octokit's */
  retryAfterBaseSec?: number;
  /** The least time between two writes, for tests (`ForgeClientOptions.writeIntervalMs`). @default Octokit's */
  writeIntervalMs?: number;
}

/** Write queues of one forge's clients, `intervalMs` apart: Octokit's own are the process's, 1 s and 3 s. */
function writeQueues(intervalMs: number): { write: Bottleneck.Group; notifications: Bottleneck.Group } {
  const queue = (): Bottleneck.Group => new Bottleneck.Group({ maxConcurrent: 1, minTime: intervalMs });
  return { write: queue(), notifications: queue() };
}

type GitHubClient = InstanceType<typeof GitHubClient>;

export function gitHubForge(config: ForgeConfig, options: GitHubOptions = {}): Forge {
  const missing = missingCredential(config);
  if (missing !== undefined) throw new ForgeError(missing, undefined);
  const queues = options.writeIntervalMs === undefined ? {} : writeQueues(options.writeIntervalMs);
  const client = (auth: object): GitHubClient =>
    new GitHubClient({
      ...auth,
      baseUrl: config.apiUrl,
      userAgent: `conveyor/${VERSION}`,
      // Octokit's own log would go to the console: Conveyor reports failures itself.
      log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      throttle: {
        ...queues,
        onRateLimit: (_after: number, _options: object, _octokit: unknown, retryCount: number) =>
          retryCount < RATE_LIMIT_RETRIES,
        onSecondaryRateLimit: (_after: number, _options: object, _octokit: unknown, retryCount: number) =>
          retryCount < RATE_LIMIT_RETRIES,
      },
      ...(options.retryAfterBaseSec === undefined
        ? {}
        : { retry: { retryAfterBaseValue: options.retryAfterBaseSec * 1000 } }),
    });
  const { app } = config;
  const appAuth = app === undefined ? undefined : { appId: app.id, privateKey: app.privateKey ?? '' };
  /** The token's client, or the App's own (it only finds installations). */
  const main =
    appAuth === undefined ? client({ auth: config.token }) : client({ authStrategy: createAppAuth, auth: appAuth });
  /** An App's client per installation, and each repository's installation (the lookup retried after a failure). */
  const installations = new Map<number, GitHubClient>();
  const repoClients = new Map<string, Promise<GitHubClient>>();
  const clientFor = (repo: string): Promise<GitHubClient> => {
    if (appAuth === undefined) return Promise.resolve(main);
    const key = repo.toLowerCase();
    let found = repoClients.get(key);
    if (found === undefined) {
      found = main.request('GET /repos/{owner}/{repo}/installation', split(repo)).then(
        ({ data }) => {
          let installed = installations.get(data.id);
          if (installed === undefined) {
            installed = client({ authStrategy: createAppAuth, auth: { ...appAuth, installationId: data.id } });
            installations.set(data.id, installed);
          }
          return installed;
        },
        (error: unknown) => {
          repoClients.delete(key);
          throw failed(
            `finding the GitHub App ${app?.id ?? ''}'s installation on ${repo} (install the App there)`,
            error,
          );
        },
      );
      repoClients.set(key, found);
    }
    return found;
  };
  const ref = (data: { number: number; html_url: string }): PullRequestRef => ({
    number: data.number,
    url: data.html_url,
  });
  const board: ForgeBoard = {
    async item(itemId: string, project: ForgeProject): Promise<ProjectItem | undefined> {
      // A board belongs to an owner, not a repository: an App asks with the installation of its first repository.
      const octokit = await clientFor(config.repos[0]?.name ?? `${project.owner}/${project.owner}`);
      let answer: ItemAnswer;
      try {
        answer = await octokit.graphql<ItemAnswer>(ITEM_QUERY, { id: itemId, field: project.field });
      } catch (error) {
        throw failed(`reading the project item ${itemId}`, error);
      }
      const { node } = answer;
      if (node?.project === undefined) return undefined;
      const content = node.content;
      return {
        project: { owner: node.project.owner.login ?? '', number: node.project.number },
        column: node.fieldValueByName?.name,
        issue:
          content?.number === undefined || content.repository === undefined
            ? undefined
            : {
                repo: content.repository.nameWithOwner,
                number: content.number,
                title: content.title ?? '',
                body: content.body ?? '',
                url: content.url ?? '',
                author: content.author?.login ?? '',
                labels: (content.labels?.nodes ?? []).flatMap((label) => (label === null ? [] : [label.name])),
              },
      };
    },
    async setColumn(repo: string, issue: number, project: ForgeProject, column: string): Promise<ColumnOutcome> {
      const octokit = await clientFor(repo);
      const { owner, repo: name } = split(repo);
      let answer: IssueItemsAnswer;
      try {
        answer = await octokit.graphql<IssueItemsAnswer>(ISSUE_ITEMS_QUERY, {
          owner,
          name,
          issue,
          field: project.field,
        });
      } catch (error) {
        throw failed(`reading the board items of #${String(issue)} on ${repo}`, error);
      }
      const item = (answer.repository?.issue?.projectItems.nodes ?? []).find(
        (node) =>
          node !== null && node.project.number === project.number && sameOwner(node.project.owner.login, project.owner),
      );
      if (item === undefined || item === null) return 'not_on_board';
      if (item.fieldValueByName?.name === column) return 'unchanged';
      const option = item.project.field?.options?.find((o) => o.name === column);
      if (option === undefined || item.project.field?.id === undefined) return 'no_such_column';
      try {
        await octokit.graphql(SET_COLUMN_MUTATION, {
          project: item.project.id,
          item: item.id,
          field: item.project.field.id,
          option: option.id,
        });
      } catch (error) {
        throw failed(`moving #${String(issue)} on ${repo} to ${column}`, error);
      }
      return 'moved';
    },
  };
  return {
    config,
    board,
    async gitCredentials(repo: string): Promise<ForgeGitCredentials> {
      if (appAuth === undefined) return { username: 'x-access-token', password: config.token ?? '' };
      const octokit = await clientFor(repo);
      try {
        const { token } = (await octokit.auth({ type: 'installation' })) as { token: string };
        return { username: 'x-access-token', password: token };
      } catch (error) {
        throw failed(`an installation token of the GitHub App ${app?.id ?? ''} for ${repo}`, error);
      }
    },
    async permission(repo: string, user: string): Promise<ForgePermission> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', {
          ...split(repo),
          username: user,
        });
        const permission = data.permission;
        return permission === 'admin' || permission === 'write' || permission === 'read' ? permission : 'none';
      } catch (error) {
        // Not a collaborator, or no such user.
        if (statusOf(error) === 404) return 'none';
        throw failed(`the permission of ${user} on ${repo}`, error);
      }
    },
    async findPullRequest(repo: string, head: string, base: string): Promise<PullRequestRef | undefined> {
      const octokit = await clientFor(repo);
      const { owner } = split(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/pulls', {
          ...split(repo),
          head: `${owner}:${head}`,
          base,
          state: 'open',
        });
        const found = data[0];
        return found === undefined ? undefined : ref(found);
      } catch (error) {
        throw failed(`looking for the pull request of ${head} on ${repo}`, error);
      }
    },
    async createPullRequest(repo: string, input: PullRequestInput): Promise<PullRequestRef> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('POST /repos/{owner}/{repo}/pulls', { ...split(repo), ...input });
        return ref(data);
      } catch (error) {
        throw failed(`opening a pull request from ${input.head} on ${repo}`, error);
      }
    },
    async updatePullRequest(repo, number, input): Promise<PullRequestRef> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', {
          ...split(repo),
          pull_number: number,
          title: input.title,
          body: input.body,
        });
        return ref(data);
      } catch (error) {
        throw failed(`updating pull request #${String(number)} on ${repo}`, error);
      }
    },
    async pullRequest(repo, number): Promise<PullRequestInfo | undefined> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
          ...split(repo),
          pull_number: number,
        });
        return {
          ...ref(data),
          state: data.state === 'open' ? 'open' : 'closed',
          head: data.head.ref,
          // Null when the fork it came from was deleted, whatever the description says.
          headRepo: (data.head.repo as typeof data.head.repo | null)?.full_name,
          base: data.base.ref,
        };
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw failed(`reading pull request #${String(number)} on ${repo}`, error);
      }
    },
    async listReviews(repo, number): Promise<Review[]> {
      const octokit = await clientFor(repo);
      const reviews: Review[] = [];
      try {
        for (let page = 1; page <= MAX_PAGES; page++) {
          const { data } = await octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
            ...split(repo),
            pull_number: number,
            per_page: 100,
            page,
          });
          reviews.push(
            ...data.map((r) => ({
              id: Number(r.id),
              author: r.user?.login ?? '',
              state: REVIEW_STATES[r.state] ?? ('other' as const),
              body: r.body,
            })),
          );
          if (data.length < 100) break;
        }
        return reviews;
      } catch (error) {
        throw failed(`listing the reviews of #${String(number)} on ${repo}`, error);
      }
    },
    async reviewComments(repo, number, reviewId): Promise<ReviewComment[]> {
      const octokit = await clientFor(repo);
      const comments: ReviewComment[] = [];
      try {
        for (let page = 1; page <= MAX_PAGES; page++) {
          const { data } = await octokit.request(
            'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments',
            { ...split(repo), pull_number: number, review_id: reviewId, per_page: 100, page },
          );
          comments.push(
            ...data.map((c) => ({ path: c.path, line: c.line ?? c.original_line ?? undefined, body: c.body })),
          );
          if (data.length < 100) break;
        }
        return comments;
      } catch (error) {
        throw failed(`reading the comments of review ${String(reviewId)} on #${String(number)} on ${repo}`, error);
      }
    },
    async listComments(repo, issue): Promise<IssueComment[]> {
      const octokit = await clientFor(repo);
      const comments: IssueComment[] = [];
      try {
        for (let page = 1; page <= MAX_PAGES; page++) {
          const { data } = await octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
            ...split(repo),
            issue_number: issue,
            per_page: 100,
            page,
          });
          comments.push(...data.map((c) => ({ id: Number(c.id), body: c.body ?? '' })));
          if (data.length < 100) break;
        }
        return comments;
      } catch (error) {
        throw failed(`listing the comments of #${String(issue)} on ${repo}`, error);
      }
    },
    async createComment(repo, issue, body): Promise<IssueComment> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
          ...split(repo),
          issue_number: issue,
          body,
        });
        return { id: Number(data.id), body: data.body ?? body };
      } catch (error) {
        throw failed(`commenting on #${String(issue)} on ${repo}`, error);
      }
    },
    async updateComment(repo, commentId, body): Promise<void> {
      const octokit = await clientFor(repo);
      try {
        await octokit.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
          ...split(repo),
          comment_id: commentId,
          body,
        });
      } catch (error) {
        throw failed(`editing comment ${String(commentId)} on ${repo}`, error);
      }
    },
    async issueLabels(repo, issue): Promise<string[]> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}/labels', {
          ...split(repo),
          issue_number: issue,
          per_page: 100,
        });
        return data.map((label) => label.name);
      } catch (error) {
        throw failed(`reading the labels of #${String(issue)} on ${repo}`, error);
      }
    },
    async addLabel(repo, issue, name): Promise<void> {
      const octokit = await clientFor(repo);
      try {
        // GitHub creates a label the repository does not have yet.
        await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', {
          ...split(repo),
          issue_number: issue,
          labels: [name],
        });
      } catch (error) {
        throw failed(`labelling #${String(issue)} ${name} on ${repo}`, error);
      }
    },
    async removeLabel(repo, issue, name): Promise<void> {
      const octokit = await clientFor(repo);
      try {
        await octokit.request('DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}', {
          ...split(repo),
          issue_number: issue,
          name,
        });
      } catch (error) {
        // The issue does not carry it.
        if (statusOf(error) === 404) return;
        throw failed(`removing the label ${name} from #${String(issue)} on ${repo}`, error);
      }
    },
    async issue(repo, number): Promise<ListedIssue | undefined> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}', {
          ...split(repo),
          issue_number: number,
        });
        return issueOf(data);
      } catch (error) {
        if (statusOf(error) === 404 || statusOf(error) === 410) return undefined;
        throw failed(`reading #${String(number)} on ${repo}`, error);
      }
    },
    async listIssues(repo, label, query): Promise<ForgePage<ListedIssue>> {
      const octokit = await clientFor(repo);
      try {
        const { data, headers } = await octokit.request('GET /repos/{owner}/{repo}/issues', {
          ...split(repo),
          labels: label,
          state: 'open',
          sort: 'updated',
          direction: 'asc',
          ...listParams(query),
        });
        return { notModified: false, items: data.map(issueOf), etag: headers.etag, more: data.length === PAGE_SIZE };
      } catch (error) {
        // Nothing changed since the ETag: GitHub does not count a 304 against the rate limit.
        if (statusOf(error) === 304) return { notModified: true };
        throw failed(`listing the issues labelled ${label} on ${repo}`, error);
      }
    },
    async listRepoComments(repo, query): Promise<ForgePage<ForgeComment>> {
      const octokit = await clientFor(repo);
      try {
        const { data, headers } = await octokit.request('GET /repos/{owner}/{repo}/issues/comments', {
          ...split(repo),
          sort: 'updated',
          direction: 'asc',
          ...listParams(query),
        });
        const items = data.map((c): ForgeComment => ({
          id: Number(c.id),
          issue: issueNumberOf(c.issue_url),
          body: c.body ?? '',
          author: c.user?.login ?? '',
          authorIsBot: c.user?.type === 'Bot',
          updatedAt: forgeTime(c.updated_at),
        }));
        return { notModified: false, items, etag: headers.etag, more: data.length === PAGE_SIZE };
      } catch (error) {
        if (statusOf(error) === 304) return { notModified: true };
        throw failed(`listing the comments of ${repo}`, error);
      }
    },
    async labeller(repo, issue, label): Promise<{ login: string; isBot: boolean } | undefined> {
      const octokit = await clientFor(repo);
      let found: { login: string; isBot: boolean } | undefined;
      try {
        for (let page = 1; page <= MAX_PAGES; page++) {
          const { data } = await octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}/events', {
            ...split(repo),
            issue_number: issue,
            per_page: PAGE_SIZE,
            page,
          });
          // Oldest first: the last `labeled` event for the label is who put it on.
          for (const event of data) {
            if (event.event === 'labeled' && 'label' in event && event.label.name === label && 'actor' in event) {
              found = { login: event.actor.login, isBot: event.actor.type === 'Bot' };
            }
          }
          if (data.length < PAGE_SIZE) break;
        }
        return found;
      } catch (error) {
        throw failed(`reading the events of #${String(issue)} on ${repo}`, error);
      }
    },
    async currentUser(): Promise<string> {
      try {
        if (appAuth !== undefined) {
          // An App has no user: its JWT reads the App itself, as whose bot it acts.
          const { data } = await main.request('GET /app');
          return `${data?.slug ?? `app ${appAuth.appId}`}[bot]`;
        }
        const { data } = await main.request('GET /user');
        return data.login;
      } catch (error) {
        throw failed(appAuth === undefined ? 'reading the token’s user' : 'reading the GitHub App', error);
      }
    },
    async repoAccess(repo): Promise<{ push: boolean; admin: boolean } | undefined> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}', split(repo));
        return { push: data.permissions?.push === true, admin: data.permissions?.admin === true };
      } catch (error) {
        if (statusOf(error) === 404 || statusOf(error) === 403) return undefined;
        throw failed(`reading ${repo}`, error);
      }
    },
    async listHooks(repo): Promise<ForgeHook[] | 'forbidden'> {
      const octokit = await clientFor(repo);
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/hooks', {
          ...split(repo),
          per_page: PAGE_SIZE,
        });
        return data.map((hook) => ({
          url: hook.config.url ?? '',
          active: hook.active,
          // GitHub masks a secret that is set.
          secretSet: typeof hook.config.secret === 'string' && hook.config.secret !== '',
          events: hook.events,
        }));
      } catch (error) {
        // GitHub answers 404 to a token without admin rights on the repository.
        if (statusOf(error) === 404 || statusOf(error) === 403) return 'forbidden';
        throw failed(`listing the webhooks of ${repo}`, error);
      }
    },
  };
}
