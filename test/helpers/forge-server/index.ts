/**
 * A forge for tests: GitHub's or Gitea's REST calls Conveyor makes, over in-memory issues, comments,
 * labels, collaborators and pull requests, on a loopback port, and real git repositories over smart
 * HTTP (`git-http.ts`). Every API request and every answer is checked against the forge's official
 * description (`spec.ts`): a method and path it does not describe, a query parameter it does not
 * name, a body or an answer that does not match its schema is recorded in `problems`, which a test
 * asserts empty (`assertFaithful`). Answers are built from the description's own examples (GitHub) or
 * the fields Gitea documents, so a client that reads a field the forge does not send finds out here.
 * GitHub's GraphQL endpoint (Projects v2 boards, `graphql.ts`) checks queries against GitHub's schema;
 * a GitHub App (`app`) authenticates with its JWT and gets installation tokens.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, verify } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveGit } from './git-http.js';
import { type ApiDescription, giteaDescription, githubDescription, type Operation } from './spec.js';
import { githubAnswers, giteaAnswers, hashId, type ForgeAnswers } from './answers.js';
import { answerGraphql, type Board } from './graphql.js';

export type ForgeKind = 'github' | 'gitea';
export type Permission = 'admin' | 'write' | 'read' | 'none';

export interface ForgeIssue {
  number: number;
  title: string;
  body: string;
  author: string;
  labels: string[];
  state: 'open' | 'closed';
  /** When it last changed (milliseconds; the forges' `updated_at`, what `since=` filters on). */
  updatedAt: number;
}

export interface ForgeComment {
  id: number;
  issue: number;
  body: string;
  author: string;
  updatedAt: number;
}

/** A label put on or taken off an issue: GitHub's issue events, Gitea's timeline. */
export interface ForgeLabelEvent {
  id: number;
  issue: number;
  label: string;
  actor: string;
  added: boolean;
  at: number;
}

/** A repository webhook as `GET …/hooks` shows it. */
export interface ForgeHook {
  url: string;
  active: boolean;
  /** The secret set on it ('' for none); GitHub shows it masked, Gitea not at all. */
  secret: string;
  events: string[];
}

export interface ForgePull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  draft: boolean;
  state: 'open' | 'closed';
}

/** A submitted review of a pull request, with its comments on lines of files. */
export interface ForgeReview {
  id: number;
  pull: number;
  author: string;
  state: 'changes_requested' | 'approved' | 'commented';
  body: string;
  comments: { id: number; path: string; line: number; body: string }[];
}

export interface ForgeRepo {
  owner: string;
  name: string;
  issues: Map<number, ForgeIssue>;
  pulls: Map<number, ForgePull>;
  comments: Map<number, ForgeComment>;
  reviews: Map<number, ForgeReview>;
  /** The repository's labels by name (GitHub makes one on first use; Gitea needs it made first). */
  labels: Set<string>;
  /** Issues and pull requests share one sequence of numbers, as on both forges. */
  nextNumber: number;
  labelEvents: ForgeLabelEvent[];
  hooks: ForgeHook[];
  /** What the server's token may do here; `none`: it cannot see the repository. */
  tokenAccess: { push: boolean; admin: boolean } | 'none';
}

/** One API request as the server saw it (after authentication). */
export interface ForgeRequest {
  kind: 'api';
  method: string;
  path: string;
  template: string | undefined;
  status: number;
  authorization: string | undefined;
  body: unknown;
}

export interface GitRequest {
  kind: 'git';
  method: string;
  path: string;
  status: number;
  user: string | undefined;
}

export interface ForgeServer {
  kind: ForgeKind;
  /** What `[forges.NAME] apiUrl` names: `…/api/v3` (GitHub Enterprise's shape) or `…/api/v1` (Gitea). */
  apiUrl: string;
  /** What `[forges.NAME] gitUrl` names: repositories are `<gitUrl>/<owner>/<repo>.git`. */
  gitUrl: string;
  /** The bare repository on disk. */
  repoPath(fullName: string): string;
  /** The installation tokens the App was given so far. */
  installationTokens(): string[];
  /** Every API and git request so far. */
  requests(): (ForgeRequest | GitRequest)[];
  /** `actor` puts `label` on the issue (an issue event / timeline entry; the issue's `updated_at` moves). */
  labelIssue(fullName: string, number: number, label: string, actor: string): void;
  /** `author` comments on the issue (not through the API: a person on the forge's page). */
  addComment(fullName: string, number: number, body: string, author: string): ForgeComment;
  /** What did not match the description (empty when the client spoke the forge's API). */
  problems(): string[];
  assertFaithful(): void;
  /** A repository with one commit on `main` holding `files`. */
  createRepo(fullName: string, files?: Record<string, string>): ForgeRepo;
  repo(fullName: string): ForgeRepo;
  /** Sets what `GET …/collaborators/{user}/permission` answers; a user never set is unknown (404). */
  setPermission(fullName: string, user: string, permission: Permission): void;
  openIssue(fullName: string, issue: Omit<ForgeIssue, 'number' | 'state' | 'updatedAt'>): ForgeIssue;
  /** A review submitted on pull request `pull` (its comments get ids); what a webhook then announces. */
  submitReview(
    fullName: string,
    review: Omit<ForgeReview, 'id' | 'comments'> & { comments: Omit<ForgeReview['comments'][number], 'id'>[] },
  ): ForgeReview;
  /**
   * The next `count` API calls (those whose path template contains `only`, when given) are answered
   * `status` with `Retry-After: retryAfterSec` (a rate limit, an outage).
   */
  failNext(count: number, status: number, retryAfterSec: number, only?: string): void;
  /**
   * Runs `hook` after each API call has changed the state and before its answer leaves (a test kills
   * the caller there); undefined removes it.
   */
  beforeAnswer(hook: ((request: ForgeRequest) => Promise<void> | void) | undefined): void;
  /** A Projects v2 board (GitHub) owned by `owner`, its `Status` field holding `columns`. */
  createBoard(owner: string, number: number, columns: string[]): Board;
  /** Puts `repo#issue` on `board` (in no column): the item's node id. */
  addToBoard(board: Board, repo: string, issue: number): string;
  /** What a person moving the item does: its `Status` becomes `column`. */
  moveItem(board: Board, itemId: string, column: string): void;
  /** The column `repo#issue` is in on `board`. */
  columnOf(board: Board, repo: string, issue: number): string | undefined;
  /** The commit `branch` points at in the served repository, or undefined. */
  branchCommit(fullName: string, branch: string): string | undefined;
  stop(): Promise<void>;
}

/** A GitHub App installed on every repository of the server: its id, public key and installation. */
export interface ForgeApp {
  id: number;
  /** PEM; the App's JWTs are checked with it. */
  publicKey: string;
  installationId: number;
}

export interface ForgeServerOptions {
  kind: ForgeKind;
  /** The token API calls and pushes must carry (or, with `app`, an installation token it minted). */
  token: string;
  /** A GitHub App (GitHub only): its JWT finds installations and mints installation tokens. */
  app?: ForgeApp;
  /** The login the token belongs to (`GET /user`). @default "conveyor-bot" */
  tokenUser?: string;
  /** Its repositories are private: a clone or fetch must carry the token too. @default false */
  private?: boolean;
}

/** An answer a handler ends with early (a 404, a 422), thrown so the handlers read straight. */
class HttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status.toString()}`);
  }
}

/** The calls a GitHub App makes as itself, with its JWT. */
const APP_ROUTES = new Set([
  'GET /app',
  'GET /repos/{owner}/{repo}/installation',
  'POST /app/installations/{installation_id}/access_tokens',
]);

/** What is wrong with `jwt` as the App's (RS256 with its key, issued by it, short-lived); undefined when nothing. */
function appJwtProblem(jwt: string, app: ForgeApp): string | undefined {
  const [header = '', payload = '', signature = ''] = jwt.split('.');
  const decode = (part: string): Record<string, unknown> =>
    JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  try {
    if (decode(header).alg !== 'RS256') return 'the JWT is not RS256';
    if (
      !verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), app.publicKey, Buffer.from(signature, 'base64url'))
    ) {
      return 'the JWT is not signed with the App key';
    }
    const claims = decode(payload);
    const now = Date.now() / 1000;
    if (String(claims.iss) !== String(app.id))
      return `the JWT's iss ${String(claims.iss)} is not the App ${String(app.id)}`;
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return 'the JWT lacks exp or iat';
    if (claims.exp < now || claims.iat > now + 60 || claims.exp - claims.iat > 660)
      return 'the JWT is expired or too long-lived';
    return undefined;
  } catch {
    return 'the JWT does not parse';
  }
}

/** An answer of the forge's middleware (Gitea's `reqAdmin`), which the description does not list per operation. */
class FrontAnswer extends HttpAnswer {}

/** One page of `items` as the query asks (`per_page` on GitHub, `limit` on Gitea; Gitea's maximum is 50). */
function paged<T>(items: T[], query: URLSearchParams): T[] {
  const size = Math.min(Number(query.get('per_page') ?? query.get('limit') ?? 30), query.has('limit') ? 50 : 100);
  const page = Number(query.get('page') ?? 1);
  return items.slice((page - 1) * size, page * size);
}

/** `If-None-Match` as GitHub compares it (a list of tags, weak or strong). */
function etagMatches(header: string | undefined, etag: string): boolean {
  return (header ?? '').split(',').some((tag) => tag.trim() === etag || tag.trim() === `W/${etag}`);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startForgeServer(options: ForgeServerOptions): Promise<ForgeServer> {
  const root = mkdtempSync(join(tmpdir(), `conveyor-forge-${options.kind}-`));
  const description: ApiDescription = options.kind === 'github' ? githubDescription() : giteaDescription();
  const apiPrefix = options.kind === 'github' ? '/api/v3' : '/api/v1';
  const repos = new Map<string, ForgeRepo>();
  const permissions = new Map<string, Permission>();
  const problems: string[] = [];
  const log: (ForgeRequest | GitRequest)[] = [];
  let nextCommentId = 1000;
  let nextEventId = 5000;
  const tokenUser = options.tokenUser ?? 'conveyor-bot';
  // Whole seconds, as both forges' timestamps (and `since=`) are.
  const now = (): number => Math.floor(Date.now() / 1000) * 1000;
  const addLabel = (repo: ForgeRepo, issue: ForgeIssue, label: string, actor: string): void => {
    repo.labels.add(label);
    issue.labels.push(label);
    issue.updatedAt = now();
    repo.labelEvents.push({ id: nextEventId++, issue: issue.number, label, actor, added: true, at: now() });
  };
  let failures: { count: number; status: number; retryAfterSec: number; only: string | undefined } = {
    count: 0,
    status: 0,
    retryAfterSec: 0,
    only: undefined,
  };
  const installationTokens: string[] = [];
  const boards: Board[] = [];
  const tokenOk = (token: string): boolean => token === options.token || installationTokens.includes(token);
  let baseUrl = '';
  let hook: ((request: ForgeRequest) => Promise<void> | void) | undefined;

  const repoOf = (owner: string, name: string): ForgeRepo => {
    const found = repos.get(`${owner}/${name}`);
    if (found === undefined) throw new HttpAnswer(404, answers.notFound());
    return found;
  };
  const branchCommit = (fullName: string, branch: string): string | undefined => {
    try {
      return execFileSync('git', ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], {
        cwd: join(root, `${fullName}.git`),
        encoding: 'utf8',
      }).trim();
    } catch {
      return undefined;
    }
  };
  /** A pull request's conversation: on both forges it takes comments and labels as an issue does. */
  const pullThreads = new Map<string, ForgeIssue>();
  const pullThread = (repo: ForgeRepo, number: number): ForgeIssue | undefined => {
    const pull = repo.pulls.get(number);
    if (pull === undefined) return undefined;
    const key = `${repo.owner}/${repo.name}#${String(number)}`;
    const thread = pullThreads.get(key) ?? {
      number,
      title: pull.title,
      body: pull.body,
      author: 'conveyor-bot',
      labels: [],
      state: pull.state,
      updatedAt: Date.now(),
    };
    pullThreads.set(key, thread);
    return thread;
  };
  const answers: ForgeAnswers =
    options.kind === 'github' ? githubAnswers(description, () => baseUrl) : giteaAnswers(() => baseUrl);

  /** The handlers, by the description's path template: what each operation does to the state. */
  const handle = (op: Operation, body: Record<string, unknown>, query: URLSearchParams): HttpAnswer => {
    if (op.method === 'GET' && op.template === '/user') return new HttpAnswer(200, answers.user(tokenUser));
    const { owner = '', repo: name = '' } = op.params;
    const repo = repoOf(owner, name);
    if (repo.tokenAccess === 'none') throw new HttpAnswer(404, answers.notFound());
    const number = Number(op.params.issue_number ?? op.params.pull_number ?? op.params.index);
    const issueOf = (): ForgeIssue => {
      const issue = repo.issues.get(number) ?? pullThread(repo, number);
      if (issue === undefined) throw new HttpAnswer(404, answers.notFound());
      return issue;
    };
    const key = `${op.method} ${op.template}`;
    switch (key) {
      case 'GET /repos/{owner}/{repo}/collaborators/{username}/permission':
      case 'GET /repos/{owner}/{repo}/collaborators/{collaborator}/permission': {
        const user = op.params.username ?? op.params.collaborator ?? '';
        const permission = permissions.get(`${owner}/${name}:${user}`);
        if (permission === undefined) throw new HttpAnswer(404, answers.notFound());
        return new HttpAnswer(200, answers.permission(user, permission));
      }
      case 'GET /repos/{owner}/{repo}/issues/{issue_number}':
      case 'GET /repos/{owner}/{repo}/issues/{index}':
        return new HttpAnswer(200, answers.issue(repo, issueOf()));
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments':
      case 'POST /repos/{owner}/{repo}/issues/{index}/comments': {
        issueOf();
        const comment = {
          id: nextCommentId++,
          issue: number,
          body: String(body.body),
          author: tokenUser,
          updatedAt: now(),
        };
        repo.comments.set(comment.id, comment);
        return new HttpAnswer(201, answers.comment(repo, comment));
      }
      case 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}':
      case 'PATCH /repos/{owner}/{repo}/issues/comments/{id}': {
        const comment = repo.comments.get(Number(op.params.comment_id ?? op.params.id));
        if (comment === undefined) throw new HttpAnswer(404, answers.notFound());
        comment.body = String(body.body);
        comment.updatedAt = now();
        return new HttpAnswer(200, answers.comment(repo, comment));
      }
      case 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments':
      case 'GET /repos/{owner}/{repo}/issues/{index}/comments': {
        issueOf();
        const all = [...repo.comments.values()].filter((c) => c.issue === number);
        // GitHub pages (`per_page`, `page`); Gitea 1.22 answers every comment.
        const perPage = Number(query.get('per_page') ?? 30);
        const page = Number(query.get('page') ?? 1);
        const shown = options.kind === 'github' ? all.slice((page - 1) * perPage, page * perPage) : all;
        return new HttpAnswer(
          200,
          shown.map((c) => answers.comment(repo, c)),
        );
      }
      case 'GET /repos/{owner}/{repo}/issues/{issue_number}/labels':
      case 'GET /repos/{owner}/{repo}/issues/{index}/labels':
        return new HttpAnswer(
          200,
          issueOf().labels.map((label) => answers.label(repo, label)),
        );
      case 'GET /repos/{owner}/{repo}/labels': {
        const limit = Number(query.get('limit') ?? 50);
        const page = Number(query.get('page') ?? 1);
        return new HttpAnswer(
          200,
          [...repo.labels].slice((page - 1) * limit, page * limit).map((label) => answers.label(repo, label)),
        );
      }
      case 'POST /repos/{owner}/{repo}/labels': {
        const label = String(body.name);
        if (repo.labels.has(label)) throw new HttpAnswer(422, answers.validationFailed(`label ${label} exists`));
        repo.labels.add(label);
        return new HttpAnswer(201, answers.label(repo, label));
      }
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/labels':
      case 'POST /repos/{owner}/{repo}/issues/{index}/labels': {
        const issue = issueOf();
        for (const given of body.labels as unknown[]) {
          // GitHub takes names and makes a label it lacks; Gitea takes ids or names of labels the repository has.
          const label =
            typeof given === 'number' ? [...repo.labels].find((name) => hashId(name) === given) : String(given);
          if (label === undefined || (options.kind === 'gitea' && !repo.labels.has(label))) continue;
          repo.labels.add(label);
          if (!issue.labels.includes(label)) addLabel(repo, issue, label, tokenUser);
        }
        return new HttpAnswer(
          200,
          issue.labels.map((label) => answers.label(repo, label)),
        );
      }
      case 'DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}':
      case 'DELETE /repos/{owner}/{repo}/issues/{index}/labels/{id}': {
        const issue = issueOf();
        // Gitea names the label by its id.
        const label =
          options.kind === 'github'
            ? (op.params.name ?? '')
            : (issue.labels.find((name) => String(hashId(name)) === op.params.id) ?? '');
        if (!issue.labels.includes(label)) throw new HttpAnswer(404, answers.notFound());
        issue.labels = issue.labels.filter((l) => l !== label);
        issue.updatedAt = now();
        repo.labelEvents.push({
          id: nextEventId++,
          issue: issue.number,
          label,
          actor: tokenUser,
          added: false,
          at: now(),
        });
        return options.kind === 'github'
          ? new HttpAnswer(
              200,
              issue.labels.map((l) => answers.label(repo, l)),
            )
          : new HttpAnswer(204, undefined);
      }
      case 'GET /repos/{owner}/{repo}/pulls': {
        // GitHub's `head` filter is `owner:branch`.
        const head = query.get('head')?.split(':').slice(1).join(':');
        const state = query.get('state') ?? 'open';
        const found = [...repo.pulls.values()].filter(
          (pull) => (head === undefined || pull.head === head) && (state === 'all' || pull.state === state),
        );
        return new HttpAnswer(
          200,
          found.map((pull) => answers.pull(repo, pull, { simple: true })),
        );
      }
      case 'GET /repos/{owner}/{repo}/pulls/{base}/{head}': {
        const pull = [...repo.pulls.values()].find((p) => p.base === op.params.base && p.head === op.params.head);
        if (pull === undefined) throw new HttpAnswer(404, answers.notFound());
        return new HttpAnswer(200, answers.pull(repo, pull));
      }
      case 'POST /repos/{owner}/{repo}/pulls': {
        const head = String(body.head);
        const base = String(body.base);
        if (
          branchCommit(`${owner}/${name}`, head) === undefined ||
          branchCommit(`${owner}/${name}`, base) === undefined
        ) {
          throw new HttpAnswer(422, answers.validationFailed(`head ${head} or base ${base} does not exist`));
        }
        if ([...repo.pulls.values()].some((p) => p.head === head && p.base === base && p.state === 'open')) {
          throw new HttpAnswer(
            options.kind === 'github' ? 422 : 409,
            answers.validationFailed(`A pull request already exists for ${owner}:${head}.`),
          );
        }
        const title = String(body.title);
        const pull: ForgePull = {
          number: repo.nextNumber++,
          title,
          body: typeof body.body === 'string' ? body.body : '',
          head,
          base,
          // Gitea marks a draft by its title's prefix.
          draft: options.kind === 'github' ? body.draft === true : /^(WIP:|\[WIP\])/i.test(title),
          state: 'open',
        };
        repo.pulls.set(pull.number, pull);
        return new HttpAnswer(201, answers.pull(repo, pull));
      }
      case 'GET /repos/{owner}/{repo}/pulls/{pull_number}':
      case 'GET /repos/{owner}/{repo}/pulls/{index}': {
        const pull = repo.pulls.get(number);
        if (pull === undefined) throw new HttpAnswer(404, answers.notFound());
        return new HttpAnswer(200, answers.pull(repo, pull));
      }
      case 'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews':
      case 'GET /repos/{owner}/{repo}/pulls/{index}/reviews': {
        if (!repo.pulls.has(number)) throw new HttpAnswer(404, answers.notFound());
        const all = [...repo.reviews.values()].filter((r) => r.pull === number);
        // GitHub pages with `per_page`, Gitea with `limit`.
        const perPage = Number(query.get('per_page') ?? query.get('limit') ?? 30);
        const page = Number(query.get('page') ?? 1);
        return new HttpAnswer(
          200,
          all.slice((page - 1) * perPage, page * perPage).map((r) => answers.review(repo, r)),
        );
      }
      case 'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments':
      case 'GET /repos/{owner}/{repo}/pulls/{index}/reviews/{id}/comments': {
        const review = repo.reviews.get(Number(op.params.review_id ?? op.params.id));
        if (review?.pull !== number) throw new HttpAnswer(404, answers.notFound());
        // GitHub pages (`per_page`, `page`); Gitea 1.22 answers every comment.
        const perPage = Number(query.get('per_page') ?? 30);
        const page = Number(query.get('page') ?? 1);
        const shown =
          options.kind === 'github' ? review.comments.slice((page - 1) * perPage, page * perPage) : review.comments;
        return new HttpAnswer(
          200,
          shown.map((c) => answers.reviewComment(repo, review, c)),
        );
      }
      case 'PATCH /repos/{owner}/{repo}/pulls/{pull_number}':
      case 'PATCH /repos/{owner}/{repo}/pulls/{index}': {
        const pull = repo.pulls.get(number);
        if (pull === undefined) throw new HttpAnswer(404, answers.notFound());
        if (typeof body.title === 'string') pull.title = body.title;
        if (typeof body.body === 'string') pull.body = body.body;
        return new HttpAnswer(options.kind === 'github' ? 200 : 201, answers.pull(repo, pull));
      }
      case 'GET /repos/{owner}/{repo}/issues': {
        // Both filter on labels (all of those named), state and `since` (updated at or after); GitHub
        // sorts as asked and lists pull requests too, Gitea's `type=issues` leaves them out.
        const labels = (query.get('labels') ?? '').split(',').filter((l) => l !== '');
        const since = query.has('since') ? Date.parse(query.get('since') ?? '') : 0;
        const state = query.get('state') ?? 'open';
        const found = [...repo.issues.values()]
          .filter((i) => (state === 'all' || i.state === state) && i.updatedAt >= since)
          .filter((i) => labels.every((label) => i.labels.includes(label)))
          .sort((a, b) =>
            options.kind === 'github' && query.get('sort') === 'updated'
              ? (a.updatedAt - b.updatedAt) * (query.get('direction') === 'asc' ? 1 : -1)
              : b.number - a.number,
          );
        return new HttpAnswer(
          200,
          paged(found, query).map((i) => answers.issue(repo, i)),
        );
      }
      case 'GET /repos/{owner}/{repo}/issues/comments': {
        const since = query.has('since') ? Date.parse(query.get('since') ?? '') : 0;
        const found = [...repo.comments.values()]
          .filter((c) => c.updatedAt >= since)
          .sort((a, b) => a.updatedAt - b.updatedAt || a.id - b.id);
        return new HttpAnswer(
          200,
          paged(found, query).map((c) => answers.comment(repo, c)),
        );
      }
      // GitHub's issue events, Gitea's timeline: the label events of the issue.
      case 'GET /repos/{owner}/{repo}/issues/{issue_number}/events':
      case 'GET /repos/{owner}/{repo}/issues/{index}/timeline':
        issueOf();
        return new HttpAnswer(
          200,
          paged(
            repo.labelEvents.filter((e) => e.issue === number),
            query,
          ).map((e) => answers.labelEvent(repo, e)),
        );
      case 'GET /repos/{owner}/{repo}':
        return new HttpAnswer(200, answers.repository(repo, repo.tokenAccess));
      case 'GET /repos/{owner}/{repo}/hooks':
        // Both need admin rights on the repository: GitHub answers 404 without them, Gitea 403 (from its
        // `reqAdmin` middleware, not described per operation).
        if (!repo.tokenAccess.admin) {
          if (options.kind === 'github') throw new HttpAnswer(404, answers.notFound());
          throw new FrontAnswer(403, { message: 'Only admins of the repository can do this', url: '' });
        }
        return new HttpAnswer(
          200,
          paged(repo.hooks, query).map((hook, i) => answers.hook(repo, hook, i + 1)),
        );
      default:
        problems.push(`${key}: described, but this forge server does not implement it; add it`);
        throw new HttpAnswer(404, answers.notFound());
    }
  };

  /** The App's calls (its JWT checked already): its installation on a repository, an installation token. */
  const handleApp = (op: Operation): HttpAnswer => {
    const app = options.app;
    if (app === undefined) throw new HttpAnswer(404, answers.notFound());
    if (op.template === '/app') {
      return new HttpAnswer(200, { ...description.example('integration'), id: app.id, slug: 'conveyor-test' });
    }
    if (op.template === '/repos/{owner}/{repo}/installation') {
      repoOf(op.params.owner ?? '', op.params.repo ?? '');
      return new HttpAnswer(200, {
        ...description.example('installation'),
        id: app.installationId,
        app_id: app.id,
      });
    }
    if (Number(op.params.installation_id) !== app.installationId) throw new HttpAnswer(404, answers.notFound());
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    installationTokens.push(token);
    return new HttpAnswer(201, {
      ...description.example('installation-token'),
      token,
      expires_at: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    });
  };

  const serveApi = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const method = request.method ?? 'GET';
    const path = url.pathname.slice(apiPrefix.length);
    const raw = await readBody(request);
    let body: unknown;
    const entry: ForgeRequest = {
      kind: 'api',
      method,
      path,
      template: undefined,
      status: 0,
      authorization: request.headers.authorization,
      body: undefined,
    };
    log.push(entry);
    const send = (status: number, answer: unknown, op: Operation | undefined): void => {
      entry.status = status;
      // Checked as it leaves: JSON, without the fields left undefined.
      const sent = answer === undefined ? undefined : (JSON.parse(JSON.stringify(answer)) as unknown);
      if (op !== undefined) problems.push(...description.checkResponse(op, status, sent));
      response
        .writeHead(status, answer === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' })
        .end(answer === undefined ? undefined : JSON.stringify(answer));
    };
    const op = description.match(method, path);
    if (op === undefined) {
      problems.push(`${method} ${path}: not in the ${options.kind} description`);
      send(404, answers.notFound(), undefined);
      return;
    }
    entry.template = op.template;
    try {
      body = raw === '' ? undefined : (JSON.parse(raw) as unknown);
    } catch {
      problems.push(`${method} ${op.template}: the body is not JSON`);
      send(400, answers.notFound(), undefined);
      return;
    }
    entry.body = body;
    // The scheme is case-insensitive (auth-app sends `bearer`).
    const [given = '', credential = ''] = (request.headers.authorization ?? '').split(' ');
    const scheme = given.toLowerCase();
    const appCall = APP_ROUTES.has(`${method} ${op.template}`);
    const authorized = appCall
      ? scheme === 'bearer' && options.app !== undefined && appJwtProblem(credential, options.app) === undefined
      : (scheme === 'token' || scheme === 'bearer') && tokenOk(credential);
    if (!authorized) {
      if (appCall && options.app !== undefined) {
        problems.push(`${method} ${op.template}: ${appJwtProblem(credential, options.app) ?? 'not the App JWT'}`);
      }
      send(401, answers.unauthorized(), undefined);
      return;
    }
    problems.push(...description.checkRequest(op, url.searchParams, body));
    if (failures.count > 0 && (failures.only === undefined || op.template.includes(failures.only))) {
      failures.count--;
      entry.status = failures.status;
      // Rate limits and outages are answered by the forge's front, not described per operation.
      response
        .writeHead(failures.status, {
          'Content-Type': 'application/json',
          'Retry-After': String(failures.retryAfterSec),
          ...(options.kind === 'github' && failures.status === 403
            ? {
                'x-ratelimit-remaining': '0',
                'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + failures.retryAfterSec),
              }
            : {}),
        })
        .end(JSON.stringify({ message: 'API rate limit exceeded' }));
      return;
    }
    let answer: HttpAnswer;
    try {
      answer = appCall ? handleApp(op) : handle(op, (body ?? {}) as Record<string, unknown>, url.searchParams);
    } catch (error) {
      if (!(error instanceof HttpAnswer)) throw error;
      answer = error;
    }
    entry.status = answer.status;
    await hook?.(entry);
    if (answer instanceof FrontAnswer) {
      response.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer.body));
      return;
    }
    if (options.kind === 'github' && method === 'GET' && answer.status === 200) {
      // GitHub tags every GET's answer; a request naming the tag is answered 304 with no body, which
      // costs no rate limit ("conditional requests" in GitHub's REST docs). The description lists 304
      // on few operations: it is GitHub's front's answer, as a rate limit is, so it is not checked.
      const etag = `"${createHash('sha256').update(JSON.stringify(answer.body)).digest('hex').slice(0, 40)}"`;
      response.setHeader('ETag', etag);
      if (etagMatches(request.headers['if-none-match'], etag)) {
        entry.status = 304;
        response.writeHead(304).end();
        return;
      }
    }
    send(answer.status, answer.body, op);
  };

  /** GitHub Enterprise's GraphQL endpoint: the same tokens as the REST API. */
  const serveGraphql = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const raw = await readBody(request);
    const [given = '', credential = ''] = (request.headers.authorization ?? '').split(' ');
    const entry: ForgeRequest = {
      kind: 'api',
      method: 'POST',
      path: '/graphql',
      template: '/graphql',
      status: 200,
      authorization: request.headers.authorization,
      body: undefined,
    };
    log.push(entry);
    if (!['token', 'bearer'].includes(given.toLowerCase()) || !tokenOk(credential)) {
      entry.status = 401;
      response.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify(answers.unauthorized()));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw) as unknown;
    } catch {
      problems.push('POST /graphql: the body is not JSON');
    }
    entry.body = body;
    const state = {
      boards,
      issue: (fullName: string, number: number) => {
        const issue = repos.get(fullName)?.issues.get(number);
        return issue === undefined ? undefined : { ...issue, url: `${baseUrl}/${fullName}/issues/${String(number)}` };
      },
    };
    const answer = await answerGraphql(state, body, problems);
    await hook?.(entry);
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(answer));
  };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://forge');
    if (url.pathname.startsWith('/git/')) {
      serveGit(request, response, url.pathname.slice('/git'.length), url.search.slice(1), {
        root,
        accepts: tokenOk,
        readNeedsAuth: options.private === true,
        note: (entry) => log.push(entry),
      });
      return;
    }
    if (options.kind === 'github' && url.pathname === '/api/graphql' && request.method === 'POST') {
      serveGraphql(request, response).catch((error: unknown) => {
        problems.push(`POST /api/graphql: the server failed: ${String(error)}`);
        if (!response.headersSent) response.writeHead(500).end();
      });
      return;
    }
    if (!url.pathname.startsWith(`${apiPrefix}/`)) {
      problems.push(`${request.method ?? ''} ${url.pathname}: neither the API nor git`);
      response.writeHead(404).end();
      return;
    }
    serveApi(request, response, url).catch((error: unknown) => {
      problems.push(`${request.method ?? ''} ${url.pathname}: the server failed: ${String(error)}`);
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const repoNamed = (fullName: string): ForgeRepo => {
    const found = repos.get(fullName);
    if (found === undefined) throw new Error(`no repository ${fullName} on the forge server`);
    return found;
  };
  return {
    kind: options.kind,
    apiUrl: `${baseUrl}${apiPrefix}`,
    gitUrl: `${baseUrl}/git`,
    repoPath: (fullName) => join(root, `${fullName}.git`),
    installationTokens: () => [...installationTokens],
    requests: () => [...log],
    problems: () => [...problems],
    assertFaithful() {
      if (problems.length > 0) throw new Error(`the forge server saw unfaithful calls:\n${problems.join('\n')}`);
    },
    createRepo(fullName, files = { 'README.md': '# sample\n' }) {
      const [owner = '', name = ''] = fullName.split('/');
      const bare = join(root, `${fullName}.git`);
      mkdirSync(bare, { recursive: true });
      execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
      const work = mkdtempSync(join(tmpdir(), 'conveyor-forge-seed-'));
      const gitArgs = ['-c', 'user.name=Seed', '-c', 'user.email=seed@localhost', '-c', 'commit.gpgSign=false'];
      execFileSync('git', ['init', '--quiet', '--initial-branch=main', work]);
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(join(work, path, '..'), { recursive: true });
        writeFileSync(join(work, path), content);
      }
      execFileSync('git', [...gitArgs, 'add', '--all'], { cwd: work });
      execFileSync('git', [...gitArgs, 'commit', '--quiet', '-m', 'initial'], { cwd: work });
      execFileSync('git', ['push', '--quiet', bare, 'main'], { cwd: work });
      rmSync(work, { recursive: true, force: true });
      const repo: ForgeRepo = {
        owner,
        name,
        issues: new Map(),
        pulls: new Map(),
        comments: new Map(),
        reviews: new Map(),
        labels: new Set(),
        nextNumber: 1,
        labelEvents: [],
        hooks: [],
        tokenAccess: { push: true, admin: true },
      };
      repos.set(fullName, repo);
      return repo;
    },
    repo: repoNamed,
    setPermission(fullName, user, permission) {
      permissions.set(`${fullName}:${user}`, permission);
    },
    openIssue(fullName, issue) {
      const repo = repoNamed(fullName);
      const opened: ForgeIssue = {
        ...issue,
        labels: [...issue.labels],
        number: repo.nextNumber++,
        state: 'open',
        updatedAt: now(),
      };
      // Opened with labels: each is an event of the opener's.
      for (const label of opened.labels) {
        repo.labelEvents.push({
          id: nextEventId++,
          issue: opened.number,
          label,
          actor: opened.author,
          added: true,
          at: now(),
        });
      }
      for (const label of opened.labels) repo.labels.add(label);
      repo.issues.set(opened.number, opened);
      return opened;
    },
    submitReview(fullName, review) {
      const repo = repoNamed(fullName);
      if (!repo.pulls.has(review.pull)) throw new Error(`no pull request #${String(review.pull)} on ${fullName}`);
      const submitted: ForgeReview = {
        ...review,
        id: nextCommentId++,
        comments: review.comments.map((c) => ({ ...c, id: nextCommentId++ })),
      };
      repo.reviews.set(submitted.id, submitted);
      return submitted;
    },
    labelIssue(fullName, number, label, actor) {
      const repo = repoNamed(fullName);
      const issue = repo.issues.get(number);
      if (issue === undefined) throw new Error(`no issue #${String(number)} in ${fullName}`);
      if (!issue.labels.includes(label)) addLabel(repo, issue, label, actor);
    },
    addComment(fullName, number, body, author) {
      const repo = repoNamed(fullName);
      const comment = { id: nextCommentId++, issue: number, body, author, updatedAt: now() };
      repo.comments.set(comment.id, comment);
      return comment;
    },
    beforeAnswer(given) {
      hook = given;
    },
    failNext(count, status, retryAfterSec, only) {
      failures = { count, status, retryAfterSec, only };
    },
    createBoard(owner, number, columns) {
      const board: Board = {
        id: `PVT_${String(hashId(`${owner}/${String(number)}`))}`,
        owner,
        number,
        fieldId: `PVTSSF_${String(hashId(`${owner}/${String(number)}/Status`))}`,
        fieldName: 'Status',
        columns: columns.map((name) => ({ id: `opt_${String(hashId(name))}`, name })),
        items: new Map(),
      };
      boards.push(board);
      return board;
    },
    addToBoard(board, repo, issue) {
      const id = `PVTI_${String(hashId(`${board.id}/${repo}#${String(issue)}`))}`;
      board.items.set(id, { id, repo, issue, column: undefined });
      return id;
    },
    moveItem(board, itemId, column) {
      const item = board.items.get(itemId);
      if (item === undefined || !board.columns.some((c) => c.name === column)) {
        throw new Error(`no item ${itemId} or column ${column} on the board`);
      }
      item.column = column;
    },
    columnOf(board, repo, issue) {
      return [...board.items.values()].find((item) => item.repo === repo && item.issue === issue)?.column;
    },
    branchCommit,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      rmSync(root, { recursive: true, force: true });
    },
  };
}
