/**
 * Gitea through its REST API (`/api/v1`) with `fetch`: the token in `Authorization: token …`; an
 * answer 429 or 503 with `Retry-After` is waited out (at most `maxWaitMs` each, `retries` times), a
 * network failure retried the same way, anything else fails the call.
 */
import { type ForgeConfig, missingCredential } from '../config/forges.js';
import { VERSION } from '../version.js';
import {
  type Forge,
  type ForgeComment,
  ForgeError,
  type ForgeHook,
  type ListedIssue,
  type ForgeListQuery,
  type ForgePermission,
  forgeTime,
  listedIssue,
  type IssueComment,
  type PullRequestInfo,
  type PullRequestInput,
  type PullRequestRef,
  type Review,
  type ReviewComment,
  issueNumberOf,
  PAGE_SIZE,
  sinceParam,
} from './forge.js';

export interface GiteaOptions {
  /** Waits for `Retry-After` (and network failures) before a call fails. @default 3 */
  retries?: number;
  /** The longest wait a `Retry-After` may ask; a longer one fails the call. @default 60 000 */
  maxWaitMs?: number;
  /** The first wait before a retry with no `Retry-After`, doubled each time. @default 1 000 */
  retryBaseMs?: number;
  /** @default the global fetch */
  fetch?: typeof fetch;
}

const RETRY_STATUSES = new Set([429, 503]);

/** `Retry-After` in milliseconds: seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Gitea marks a draft by its title. */
function giteaTitle(input: Pick<PullRequestInput, 'title' | 'draft'>): string {
  return input.draft ? `WIP: ${input.title}` : input.title;
}

/** The colour of a label Conveyor creates (Gitea needs one). */
const LABEL_COLOR = '#ededed';

/** Pages read of the repository's labels (50 each) before the rest is left unread. */
const MAX_LABEL_PAGES = 20;

interface LabelAnswer {
  id: number;
  name: string;
}

interface IssueAnswer {
  number: number;
  title: string;
  body?: string;
  html_url: string;
  user?: { login?: string };
  labels?: { name: string }[] | null;
  updated_at?: string;
  pull_request?: unknown;
}

function issueOf(data: IssueAnswer): ListedIssue {
  return listedIssue(
    data,
    (data.labels ?? []).map((label) => label.name),
  );
}

/**
 * Gitea answers at most its `MAX_RESPONSE_ITEMS` a page (50 unless its admin raised it), whatever
 * `limit` asks: a page this long may have a next.
 */
const GITEA_PAGE_MAX = 50;

/** `since`, `page` and `limit` of a poll's list (Gitea answers no 304: no ETag is sent). */
function listQuery(query: ForgeListQuery): string {
  const params = new URLSearchParams({ page: String(query.page), limit: String(PAGE_SIZE) });
  if (query.since !== undefined) params.set('since', sinceParam(query.since));
  return params.toString();
}

interface PullRequestAnswer {
  number: number;
  html_url: string;
  state?: string;
  head?: { ref?: string; repo?: { full_name?: string } | null };
  base?: { ref?: string };
}

/** Gitea's review states (`ReviewStateType`) as the `Review` of `forge.ts` names them. */
const REVIEW_STATES: Readonly<Record<string, Review['state']>> = {
  REQUEST_CHANGES: 'changes_requested',
  APPROVED: 'approved',
  COMMENT: 'commented',
};

/** Pages read of a pull request's reviews or a review's comments (50 each) before the rest is left unread. */
const MAX_PAGES = 20;

export function giteaForge(config: ForgeConfig, options: GiteaOptions = {}): Forge {
  const { token } = config;
  const missing = missingCredential(config);
  if (missing !== undefined || token === undefined) throw new ForgeError(missing ?? 'no token', undefined);
  const retries = options.retries ?? 3;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  const doFetch = options.fetch ?? fetch;
  const retryBaseMs = options.retryBaseMs ?? 1000;

  /** The answer's status and JSON body; throws `ForgeError` once the retries are spent. */
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; data: unknown }> {
    const url = `${config.apiUrl}${path}`;
    for (let attempt = 0; ; attempt++) {
      let answer: Response;
      try {
        answer = await doFetch(url, {
          method,
          headers: {
            authorization: `token ${token}`,
            accept: 'application/json',
            'user-agent': `conveyor/${VERSION}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        if (attempt >= retries) {
          throw new ForgeError(`Gitea: ${method} ${path}: ${(error as Error).message}`, undefined, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, retryBaseMs * 2 ** attempt));
        continue;
      }
      if (RETRY_STATUSES.has(answer.status) && attempt < retries) {
        const waitMs = retryAfterMs(answer.headers.get('retry-after'), Date.now()) ?? retryBaseMs * 2 ** attempt;
        if (waitMs <= maxWaitMs) {
          await answer.body?.cancel();
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          continue;
        }
      }
      const text = await answer.text();
      return { status: answer.status, data: text === '' ? undefined : (JSON.parse(text) as unknown) };
    }
  }

  const ok = (what: string, answer: { status: number; data: unknown }, expected: number[]): unknown => {
    if (expected.includes(answer.status)) return answer.data;
    const message = (answer.data as { message?: unknown } | undefined)?.message;
    throw new ForgeError(
      `Gitea: ${what} failed (HTTP ${String(answer.status)})${typeof message === 'string' ? `: ${message}` : ''}`,
      answer.status,
    );
  };
  const path = (repo: string, rest: string): string => {
    const [owner = '', name = ''] = repo.split('/');
    return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}${rest}`;
  };
  const ref = (data: unknown): PullRequestRef => {
    const pull = data as PullRequestAnswer;
    return { number: pull.number, url: pull.html_url };
  };
  return {
    config,
    gitCredentials: () => Promise.resolve({ username: 'conveyor', password: token }),
    async permission(repo: string, user: string): Promise<ForgePermission> {
      const answer = await call('GET', path(repo, `/collaborators/${encodeURIComponent(user)}/permission`));
      // Gitea answers 403 or 404 for someone who is not a collaborator.
      if (answer.status === 404 || answer.status === 403) return 'none';
      const { permission } = ok(`the permission of ${user} on ${repo}`, answer, [200]) as { permission?: string };
      if (permission === 'owner' || permission === 'admin') return 'admin';
      return permission === 'write' || permission === 'read' ? permission : 'none';
    },
    async findPullRequest(repo: string, head: string, base: string): Promise<PullRequestRef | undefined> {
      const answer = await call('GET', path(repo, `/pulls/${encodeURIComponent(base)}/${encodeURIComponent(head)}`));
      if (answer.status === 404) return undefined;
      const pull = ok(`looking for the pull request of ${head} on ${repo}`, answer, [200]) as PullRequestAnswer;
      return pull.state === 'open' ? ref(pull) : undefined;
    },
    async createPullRequest(repo: string, input: PullRequestInput): Promise<PullRequestRef> {
      const answer = await call('POST', path(repo, '/pulls'), {
        head: input.head,
        base: input.base,
        title: giteaTitle(input),
        body: input.body,
      });
      return ref(ok(`opening a pull request from ${input.head} on ${repo}`, answer, [201]));
    },
    async updatePullRequest(repo, number, input): Promise<PullRequestRef> {
      const answer = await call('PATCH', path(repo, `/pulls/${String(number)}`), {
        title: giteaTitle(input),
        body: input.body,
      });
      return ref(ok(`updating pull request #${String(number)} on ${repo}`, answer, [200, 201]));
    },
    async pullRequest(repo, number): Promise<PullRequestInfo | undefined> {
      const answer = await call('GET', path(repo, `/pulls/${String(number)}`));
      if (answer.status === 404) return undefined;
      const pull = ok(`reading pull request #${String(number)} on ${repo}`, answer, [200]) as PullRequestAnswer;
      return {
        ...ref(pull),
        state: pull.state === 'open' ? 'open' : 'closed',
        head: pull.head?.ref ?? '',
        headRepo: pull.head?.repo?.full_name,
        base: pull.base?.ref ?? '',
      };
    },
    async listReviews(repo, number): Promise<Review[]> {
      const reviews: Review[] = [];
      for (let page = 1; page <= MAX_PAGES; page++) {
        const answer = await call('GET', path(repo, `/pulls/${String(number)}/reviews?page=${String(page)}&limit=50`));
        const listed = ok(`listing the reviews of #${String(number)} on ${repo}`, answer, [200]) as {
          id: number;
          body?: string;
          state?: string;
          user?: { login?: string } | null;
        }[];
        reviews.push(
          ...listed.map((r) => ({
            id: r.id,
            author: r.user?.login ?? '',
            state: REVIEW_STATES[r.state ?? ''] ?? ('other' as const),
            body: r.body ?? '',
          })),
        );
        if (listed.length < 50) break;
      }
      return reviews;
    },
    async reviewComments(repo, number, reviewId): Promise<ReviewComment[]> {
      // Gitea answers every comment of the review at once.
      const answer = await call('GET', path(repo, `/pulls/${String(number)}/reviews/${String(reviewId)}/comments`));
      const listed = ok(
        `reading the comments of review ${String(reviewId)} on #${String(number)} on ${repo}`,
        answer,
        [200],
      ) as { path?: string; position?: number; original_position?: number; body?: string }[];
      return listed.map((c) => ({
        path: c.path ?? '',
        // `position` is the new side's line, `original_position` the old side's (0: none).
        line: c.position || c.original_position || undefined,
        body: c.body ?? '',
      }));
    },
    async listComments(repo, issue): Promise<IssueComment[]> {
      const answer = await call('GET', path(repo, `/issues/${String(issue)}/comments`));
      const comments = ok(`listing the comments of #${String(issue)} on ${repo}`, answer, [200]) as {
        id: number;
        body?: string;
      }[];
      return comments.map((c) => ({ id: c.id, body: c.body ?? '' }));
    },
    async createComment(repo, issue, body): Promise<IssueComment> {
      const answer = await call('POST', path(repo, `/issues/${String(issue)}/comments`), { body });
      const comment = ok(`commenting on #${String(issue)} on ${repo}`, answer, [201]) as { id: number };
      return { id: comment.id, body };
    },
    async updateComment(repo, commentId, body): Promise<void> {
      const answer = await call('PATCH', path(repo, `/issues/comments/${String(commentId)}`), { body });
      ok(`editing comment ${String(commentId)} on ${repo}`, answer, [200]);
    },
    async issueLabels(repo, issue): Promise<string[]> {
      return (await issueLabelList(repo, issue)).map((label) => label.name);
    },
    async addLabel(repo, issue, name): Promise<void> {
      // Gitea puts on an issue only labels the repository has, named by id.
      const id = (await repoLabel(repo, name)) ?? (await createLabel(repo, name));
      const answer = await call('POST', path(repo, `/issues/${String(issue)}/labels`), { labels: [id] });
      ok(`labelling #${String(issue)} ${name} on ${repo}`, answer, [200]);
    },
    async removeLabel(repo, issue, name): Promise<void> {
      const label = (await issueLabelList(repo, issue)).find((l) => l.name === name);
      if (label === undefined) return;
      const answer = await call('DELETE', path(repo, `/issues/${String(issue)}/labels/${String(label.id)}`));
      if (answer.status === 404) return;
      ok(`removing the label ${name} from #${String(issue)} on ${repo}`, answer, [204]);
    },
    async issue(repo, number): Promise<ListedIssue | undefined> {
      const answer = await call('GET', path(repo, `/issues/${String(number)}`));
      if (answer.status === 404) return undefined;
      return issueOf(ok(`reading #${String(number)} on ${repo}`, answer, [200]) as IssueAnswer);
    },
    async listIssues(repo, label, query) {
      const filter = new URLSearchParams({ labels: label, state: 'open', type: 'issues' });
      const answer = await call('GET', path(repo, `/issues?${filter.toString()}&${listQuery(query)}`));
      const issues = ok(`listing the issues labelled ${label} on ${repo}`, answer, [200]) as IssueAnswer[];
      // Gitea lists by creation; the poll needs the oldest change first.
      const items = issues.map(issueOf).sort((a, b) => a.updatedAt - b.updatedAt);
      return { notModified: false, items, etag: undefined, more: issues.length >= GITEA_PAGE_MAX };
    },
    async listRepoComments(repo, query) {
      const answer = await call('GET', path(repo, `/issues/comments?${listQuery(query)}`));
      const comments = ok(`listing the comments of ${repo}`, answer, [200]) as {
        id: number;
        body?: string;
        user?: { login?: string };
        issue_url?: string;
        pull_request_url?: string;
        updated_at?: string;
      }[];
      const items = comments.map((c): ForgeComment => ({
        id: c.id,
        issue: issueNumberOf(c.issue_url === undefined || c.issue_url === '' ? c.pull_request_url : c.issue_url),
        body: c.body ?? '',
        author: c.user?.login ?? '',
        // Gitea's API does not mark bot accounts.
        authorIsBot: false,
        updatedAt: forgeTime(c.updated_at),
      }));
      return { notModified: false, items, etag: undefined, more: comments.length >= GITEA_PAGE_MAX };
    },
    async labeller(repo, issue, label) {
      let found: { login: string; isBot: boolean } | undefined;
      for (let page = 1; page <= MAX_LABEL_PAGES; page++) {
        const answer = await call(
          'GET',
          path(repo, `/issues/${String(issue)}/timeline?page=${String(page)}&limit=${String(PAGE_SIZE)}`),
        );
        const events = ok(`reading the timeline of #${String(issue)} on ${repo}`, answer, [200]) as {
          type?: string;
          body?: string;
          label?: { name?: string } | null;
          user?: { login?: string } | null;
        }[];
        // Oldest first; a `label` entry whose body is "1" put the label on ("" took it off).
        for (const event of events) {
          if (event.type === 'label' && event.body === '1' && event.label?.name === label) {
            found = { login: event.user?.login ?? '', isBot: false };
          }
        }
        if (events.length < GITEA_PAGE_MAX) break;
      }
      return found;
    },
    async currentUser(): Promise<string> {
      const answer = await call('GET', '/user');
      return (ok('reading the token’s user', answer, [200]) as { login: string }).login;
    },
    async repoAccess(repo) {
      const answer = await call('GET', path(repo, ''));
      if (answer.status === 404 || answer.status === 403) return undefined;
      const { permissions } = ok(`reading ${repo}`, answer, [200]) as {
        permissions?: { push?: boolean; admin?: boolean };
      };
      return { push: permissions?.push === true, admin: permissions?.admin === true };
    },
    async listHooks(repo): Promise<ForgeHook[] | 'forbidden'> {
      const answer = await call('GET', path(repo, `/hooks?limit=${String(PAGE_SIZE)}`));
      // Listing hooks needs admin rights on the repository.
      if (answer.status === 403 || answer.status === 404) return 'forbidden';
      const hooks = ok(`listing the webhooks of ${repo}`, answer, [200]) as {
        active?: boolean;
        config?: Record<string, string>;
        events?: string[];
      }[];
      // Gitea's API never shows a hook's secret, set or not.
      return hooks.map((hook) => ({
        url: hook.config?.url ?? '',
        active: hook.active === true,
        secretSet: undefined,
        events: hook.events ?? [],
      }));
    },
  };

  async function issueLabelList(repo: string, issue: number): Promise<LabelAnswer[]> {
    const answer = await call('GET', path(repo, `/issues/${String(issue)}/labels`));
    return ok(`reading the labels of #${String(issue)} on ${repo}`, answer, [200]) as LabelAnswer[];
  }

  async function repoLabel(repo: string, name: string): Promise<number | undefined> {
    for (let page = 1; page <= MAX_LABEL_PAGES; page++) {
      const answer = await call('GET', path(repo, `/labels?page=${String(page)}&limit=50`));
      const labels = ok(`listing the labels of ${repo}`, answer, [200]) as LabelAnswer[];
      const found = labels.find((label) => label.name === name);
      if (found !== undefined) return found.id;
      if (labels.length < 50) return undefined;
    }
    return undefined;
  }

  async function createLabel(repo: string, name: string): Promise<number> {
    const answer = await call('POST', path(repo, '/labels'), { name, color: LABEL_COLOR });
    return (ok(`creating the label ${name} on ${repo}`, answer, [201]) as LabelAnswer).id;
  }
}
