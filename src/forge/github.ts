/**
 * GitHub (github.com and Enterprise) through Octokit's core with its retry and throttling plugins: a
 * failing call is retried, a rate-limited one waits as GitHub says, twice at most, then fails.
 */
import { Octokit } from '@octokit/core';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import type { ForgeConfig } from '../config/forges.js';
import { VERSION } from '../version.js';
import {
  type Forge,
  type ForgeComment,
  ForgeError,
  type ForgeHook,
  type ForgeIssue,
  type ForgeListQuery,
  type ForgePage,
  type ForgePermission,
  forgeTime,
  type IssueComment,
  issueNumberOf,
  PAGE_SIZE,
  type PullRequestInput,
  type PullRequestRef,
  sinceParam,
} from './forge.js';

const GitHubClient = Octokit.plugin(retry, throttling);

/** Rate-limit waits taken before a call fails. */
const RATE_LIMIT_RETRIES = 2;

/** Pages read of a list (100 entries each) before the rest is left unread. */
const MAX_PAGES = 20;

const quiet = (): void => undefined;

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
  const status = statusOf(error);
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

function issueOf(data: IssueData): ForgeIssue {
  return {
    number: data.number,
    title: data.title,
    body: data.body ?? '',
    url: data.html_url,
    author: data.user?.login ?? '',
    labels: data.labels.map((label) => (typeof label === 'string' ? label : (label.name ?? ''))),
    updatedAt: forgeTime(data.updated_at),
    isPull: data.pull_request !== undefined && data.pull_request !== null,
  };
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
}

export function gitHubForge(config: ForgeConfig, options: GitHubOptions = {}): Forge {
  if (config.token === undefined) {
    throw new ForgeError(
      `forges.${config.name}: the variable ${config.tokenEnv} is not set; export the token in it`,
      undefined,
    );
  }
  const octokit = new GitHubClient({
    auth: config.token,
    baseUrl: config.apiUrl,
    userAgent: `conveyor/${VERSION}`,
    // Octokit's own log would go to the console: Conveyor reports failures itself.
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    throttle: {
      onRateLimit: (_after: number, _options: object, _octokit: unknown, retryCount: number) =>
        retryCount < RATE_LIMIT_RETRIES,
      onSecondaryRateLimit: (_after: number, _options: object, _octokit: unknown, retryCount: number) =>
        retryCount < RATE_LIMIT_RETRIES,
    },
    ...(options.retryAfterBaseSec === undefined
      ? {}
      : { retry: { retryAfterBaseValue: options.retryAfterBaseSec * 1000 } }),
  });
  const ref = (data: { number: number; html_url: string }): PullRequestRef => ({
    number: data.number,
    url: data.html_url,
  });
  return {
    config,
    async permission(repo: string, user: string): Promise<ForgePermission> {
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
      try {
        const { data } = await octokit.request('POST /repos/{owner}/{repo}/pulls', { ...split(repo), ...input });
        return ref(data);
      } catch (error) {
        throw failed(`opening a pull request from ${input.head} on ${repo}`, error);
      }
    },
    async updatePullRequest(repo, number, input): Promise<PullRequestRef> {
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
    async listComments(repo, issue): Promise<IssueComment[]> {
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
    async issue(repo, number): Promise<ForgeIssue | undefined> {
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
    async listIssues(repo, label, query): Promise<ForgePage<ForgeIssue>> {
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
        const { data } = await octokit.request('GET /user');
        return data.login;
      } catch (error) {
        throw failed('reading the token’s user', error);
      }
    },
    async repoAccess(repo): Promise<{ push: boolean; admin: boolean } | undefined> {
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}', split(repo));
        return { push: data.permissions?.push === true, admin: data.permissions?.admin === true };
      } catch (error) {
        if (statusOf(error) === 404 || statusOf(error) === 403) return undefined;
        throw failed(`reading ${repo}`, error);
      }
    },
    async listHooks(repo): Promise<ForgeHook[] | 'forbidden'> {
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
