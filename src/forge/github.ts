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
  ForgeError,
  type ForgePermission,
  type IssueComment,
  type PullRequestInfo,
  type PullRequestInput,
  type PullRequestRef,
  type Review,
  type ReviewComment,
} from './forge.js';

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
  const status = statusOf(error);
  return new ForgeError(
    `GitHub: ${what} failed${status === undefined ? '' : ` (HTTP ${String(status)})`}: ${(error as Error).message}`,
    status,
    { cause: error },
  );
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
    async pullRequest(repo, number): Promise<PullRequestInfo | undefined> {
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
  };
}
